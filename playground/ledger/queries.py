"""What the Usage page shows, computed over the ledger's ``requests`` table.

Functions take an open ``sqlite3.Connection`` (``Ledger.reading()`` gives one, and
``Ledger.query(figure, ...)`` passes it) and a ``Filters``, and return small pandas
DataFrames; ``overview`` computes everything the page draws at once. No Python loop runs over rows:

- Counts, tokens, costs and means are summed by SQLite in one ``GROUP BY model, page,
  connection`` (the *cube*, at most a few hundred rows), which pandas adds up into the
  totals and the breakdowns by model, page and connection. Means travel as sums and counts,
  so every roll-up is exact.
- Tokens and cost over time are one ``GROUP BY`` on a time bucket. Times are stored as
  fixed-width UTC text (``2026-03-04 05:06:07.890123``): they sort as text and a bucket is a
  prefix of them. Returned times are timezone-aware UTC pandas timestamps.
- Percentiles and histograms of latency, time to first token and tokens per second are
  exact: SQLite hands over only those three columns and the model, for successful requests,
  and pandas' vectorised ``groupby().quantile`` interpolates linearly (numpy's default). An
  exact percentile in SQL (numbering rows with ``ROW_NUMBER()`` per metric, the best variant
  tried) was measured about six times slower than this fetch at 100,000 rows.
- Reasoning tokens (the hidden ones a reasoning model thinks with) are a part of the
  completion tokens, as the API counts them and bills them (as output): they are summed on
  their own to be shown, never added to the completion tokens, the totals or the cost.
- Latency, time to first token and tokens per second (percentiles and means) count
  successful chat and completions requests only: a failure's latency measures the failure,
  and a connection test's the model listing, not a model.
- Filter choices hop through the ``(model|connection|page, time)`` indexes (a loose index
  scan), a few lookups per distinct value.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import pandas as pd

TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # UTC, fixed width

Bucket = Literal["minute", "hour", "day", "week", "month"]
BUCKETS: dict[str, str] = {
    "minute": "substr(time, 1, 16) || ':00'",
    "hour": "substr(time, 1, 13) || ':00:00'",
    "day": "substr(time, 1, 10)",
    "week": "date(substr(time, 1, 10), '-6 days', 'weekday 1')",  # the Monday starting it
    "month": "substr(time, 1, 7) || '-01'",
}
FILTER_COLUMNS = ("model", "connection", "page")
DISTINCT_COLUMNS = ("model", "connection", "page", "endpoint", "status", "error_kind")
METRICS = ("latency", "time_to_first_token", "tokens_per_second")
PERCENTILES = (0.01, 0.25, 0.5, 0.75, 0.9, 0.99)  # a box plot's quartiles and whiskers, and tails
LIST_COLUMNS = ("id", "time", "page", "connection", "host", "endpoint", "model", "status",
                "error_kind", "prompt_tokens", "completion_tokens", "reasoning_tokens",
                "tokens_estimated",
                "latency", "time_to_first_token", "tokens_per_second", "cost", "params")
CSV_COLUMNS = (*LIST_COLUMNS, "error_message")
# The requests whose timing describes a model: successful generations (not model listings).
TIMED = "status = 'ok' AND endpoint IN ('chat', 'completions')"


def utc_text(moment: datetime) -> str:
    """A datetime as the ledger stores it; a naive one is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


@dataclass(frozen=True)
class Filters:
    """Which requests to count. Empty tuples and None mean "all".

    ``start`` is inclusive and ``end`` exclusive. A ``date`` means that whole UTC day: as
    ``end`` it includes the day, so ``Filters(date(2026, 3, 1), date(2026, 3, 31))`` is March.
    """

    start: datetime | date | None = None
    end: datetime | date | None = None
    models: Sequence[str] = ()
    connections: Sequence[str] = ()
    pages: Sequence[str] = ()

    def __post_init__(self) -> None:
        for name in ("models", "connections", "pages"):
            value = getattr(self, name)
            values = [value] if isinstance(value, str) else value or ()
            object.__setattr__(self, name, tuple(values))

    def bounds(self) -> tuple[str | None, str | None]:
        return _bound(self.start, end=False), _bound(self.end, end=True)

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition (``1`` when nothing is filtered) and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        start, end = self.bounds()
        if start is not None:
            clauses.append("time >= ?")
            params.append(start)
        if end is not None:
            clauses.append("time < ?")
            params.append(end)
        for column, values in zip(FILTER_COLUMNS, (self.models, self.connections, self.pages)):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        return (" AND ".join(clauses) or "1"), params


def _bound(value: datetime | date | None, *, end: bool) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return utc_text(value)
    day = value + timedelta(days=1) if end else value
    return utc_text(datetime.combine(day, time(0), tzinfo=UTC))


ALL = Filters()


def _frame(db: sqlite3.Connection, sql: str, params: Iterable[Any] = ()) -> pd.DataFrame:
    cursor = db.execute(sql, list(params))
    columns = [d[0] for d in cursor.description]
    return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)


def _times(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def _bucket(bucket: str) -> str:
    try:
        return BUCKETS[bucket]
    except KeyError:
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}; got {bucket!r}") from None


# --- the figures ------------------------------------------------------------------------

def _source(filters: Filters, *, ordered: bool = False) -> str:
    """The table with the index to read it by, chosen here rather than left to the planner.

    Without statistics SQLite walks ``requests_by_model`` even for a time range, or for no
    filter at all (to half-order a GROUP BY), which turns a sequential scan into 100,000
    lookups. A filter on a column walks that column's ``(column, time)`` index, which also
    narrows a time range; a time range alone walks the time index; no filter scans the table,
    unless the rows are wanted in time order (``ordered``): then the time index gives them.
    """
    for column, values in zip(FILTER_COLUMNS, (filters.models, filters.connections, filters.pages)):
        if values:
            return f"requests INDEXED BY requests_by_{column}"
    if ordered or filters.start is not None or filters.end is not None:
        return "requests INDEXED BY requests_by_time"
    return "requests NOT INDEXED"


# The sums and the samples read only columns of this index, which holds them in group order:
# whatever the filters, walking it (a tenth of the table's pages) beats reading rows.
_SUMMED = "requests INDEXED BY requests_summed"


_CUBE_SUMS = ("requests", "ok", "errors", "incomplete", "prompt_tokens", "completion_tokens",
              "reasoning_tokens", "estimated", "cost", "unpriced",
              *(f"{m}_{x}" for m in METRICS for x in ("sum", "n")))
_COUNTS = ("requests", "ok", "errors", "incomplete", "prompt_tokens", "completion_tokens",
           "total_tokens", "reasoning_tokens", "estimated", "unpriced")


def cube(db: sqlite3.Connection, filters: Filters = ALL) -> pd.DataFrame:
    """Sums per (model, page, connection): one scan from which every breakdown is added up.

    Means are kept as sums and counts (``latency_sum``, ``latency_n``, over successful
    requests) so that any roll-up of the cube divides exact totals.
    """
    where, params = filters.where()
    metric_sums = ", ".join(
        f"TOTAL(CASE WHEN {TIMED} THEN {m} END) AS {m}_sum, "
        f"COUNT(CASE WHEN {TIMED} THEN {m} END) AS {m}_n" for m in METRICS)
    return _frame(db, f"""
        SELECT model, page, connection, COUNT(*) AS requests,
               TOTAL(status = 'ok') AS ok, TOTAL(status = 'error') AS errors,
               TOTAL(status = 'incomplete') AS incomplete,
               TOTAL(prompt_tokens) AS prompt_tokens, TOTAL(completion_tokens) AS completion_tokens,
               TOTAL(reasoning_tokens) AS reasoning_tokens, TOTAL(tokens_estimated) AS estimated,
               TOTAL(cost) AS cost, COUNT(*) - COUNT(cost) AS unpriced,
               {metric_sums},
               MIN(time) AS first, MAX(time) AS last
        FROM {_SUMMED} WHERE {where}
        GROUP BY model, page, connection""", params)


def _rolled(sums: pd.DataFrame) -> pd.DataFrame:
    sums = sums.copy()
    sums["total_tokens"] = sums["prompt_tokens"] + sums["completion_tokens"]
    for metric in METRICS:
        mean = sums[f"{metric}_sum"] / sums[f"{metric}_n"].where(sums[f"{metric}_n"] > 0)
        sums[f"mean_{metric}"] = mean.astype("float64")
    sums[list(_COUNTS)] = sums[list(_COUNTS)].astype("int64")
    return sums


def totals_from(cube_frame: pd.DataFrame) -> pd.DataFrame:
    sums = cube_frame[list(_CUBE_SUMS)].astype("float64").sum().to_frame().T
    sums = _rolled(sums)
    sums["first"] = cube_frame["first"].min() if len(cube_frame) else None
    sums["last"] = cube_frame["last"].max() if len(cube_frame) else None
    columns = [*_COUNTS[:8], "estimated", "cost", "unpriced",
               *(f"mean_{m}" for m in METRICS), "first", "last"]
    return _times(sums[columns].reset_index(drop=True), "first", "last")


def grouped_from(cube_frame: pd.DataFrame, column: str) -> pd.DataFrame:
    sums = cube_frame.groupby(column, sort=False)[list(_CUBE_SUMS)].sum().reset_index()
    rolled = _rolled(sums)
    columns = [column, "requests", "prompt_tokens", "completion_tokens", "total_tokens",
               "reasoning_tokens", "cost", "unpriced", "errors", "incomplete", "mean_latency",
               "mean_tokens_per_second"]
    return rolled[columns].sort_values(["total_tokens", "requests", column],
                                       ascending=[False, False, True], ignore_index=True)


def totals(db: sqlite3.Connection, filters: Filters = ALL) -> pd.DataFrame:
    """One row: counts by status, tokens, cost, mean latency and throughput, first and last.

    ``reasoning_tokens`` are those of ``completion_tokens`` a reasoning model spent thinking
    (a part of them, not an addition; ``total_tokens`` is prompt plus completion).

    ``cost`` sums the requests whose model has a price; ``unpriced`` counts the others.
    ``estimated`` counts requests whose tokens were estimated rather than reported. The
    means (``mean_latency``, ``mean_time_to_first_token``, ``mean_tokens_per_second``) are
    over successful requests.
    """
    return totals_from(cube(db, filters))


def by_model(db: sqlite3.Connection, filters: Filters = ALL) -> pd.DataFrame:
    """Per model: requests, tokens (reasoning ones among the completion tokens), cost,
    errors, mean latency and tokens per second."""
    return grouped_from(cube(db, filters), "model")


def by_page(db: sqlite3.Connection, filters: Filters = ALL) -> pd.DataFrame:
    """The same figures per page (Chat, Completions, Compare, ...)."""
    return grouped_from(cube(db, filters), "page")


def by_connection(db: sqlite3.Connection, filters: Filters = ALL) -> pd.DataFrame:
    return grouped_from(cube(db, filters), "connection")


def series(db: sqlite3.Connection, filters: Filters = ALL, bucket: Bucket = "hour") -> pd.DataFrame:
    """Per time bucket (UTC start): requests, tokens (reasoning ones among the completion
    tokens), estimated, cost, unpriced, running cost."""
    where, params = filters.where()
    frame = _frame(db, f"""
        SELECT {_bucket(bucket)} AS bucket, COUNT(*) AS requests,
               SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens,
               SUM(reasoning_tokens) AS reasoning_tokens, SUM(tokens_estimated) AS estimated,
               TOTAL(cost) AS cost, COUNT(*) - COUNT(cost) AS unpriced,
               SUM(TOTAL(cost)) OVER (ORDER BY {_bucket(bucket)}) AS cumulative_cost
        FROM {_source(filters)} WHERE {where} GROUP BY 1 ORDER BY 1""", params)
    return _times(frame, "bucket")


_TOKEN_SERIES = ["bucket", "requests", "prompt_tokens", "completion_tokens", "reasoning_tokens",
                 "estimated"]
_COST_SERIES = ["bucket", "cost", "unpriced", "cumulative_cost"]


def tokens_over_time(db: sqlite3.Connection, filters: Filters = ALL,
                     bucket: Bucket = "hour") -> pd.DataFrame:
    """Per time bucket (UTC start): requests, prompt and completion tokens (for stacking),
    and the reasoning tokens among the completion tokens."""
    return series(db, filters, bucket)[_TOKEN_SERIES]


def cost_over_time(db: sqlite3.Connection, filters: Filters = ALL,
                   bucket: Bucket = "day") -> pd.DataFrame:
    """Per time bucket: cost of the priced requests, how many were unpriced, running sum."""
    return series(db, filters, bucket)[_COST_SERIES]


def samples(db: sqlite3.Connection, filters: Filters = ALL) -> pd.DataFrame:
    """Latency, time to first token and tokens per second of each successful request.

    Only these four narrow columns leave SQLite; percentiles and histograms are computed
    from them with pandas' vectorised group-bys (no Python loop over rows).
    """
    where, params = filters.where()
    frame = _frame(db, f"""
        SELECT model, {', '.join(METRICS)} FROM {_SUMMED}
        WHERE {where} AND {TIMED}""", params)
    frame[list(METRICS)] = frame[list(METRICS)].astype("float64")
    return frame


def _label(p: float) -> str:
    return f"p{p * 100:g}".replace(".", "_")


def percentiles_from(sample: pd.DataFrame, ps: Sequence[float] = PERCENTILES) -> pd.DataFrame:
    """Per model and metric: count, mean, min, the percentiles (linear, as numpy's), max."""
    columns = ["model"] + [f"{m}_{x}" for m in METRICS
                           for x in ("count", "mean", "min", *map(_label, ps), "max")]
    if sample.empty:
        return pd.DataFrame({c: pd.Series(dtype="str" if c == "model" else "float64")
                             for c in columns})
    grouped = sample.groupby("model", sort=True)
    parts = []
    for metric in METRICS:  # three metrics: the rows themselves are never looped over
        values = grouped[metric]
        quantiles = values.quantile(list(ps)).unstack()
        quantiles.columns = [f"{metric}_{_label(p)}" for p in ps]
        parts += [values.count().rename(f"{metric}_count"), values.mean().rename(f"{metric}_mean"),
                  values.min().rename(f"{metric}_min"), quantiles,
                  values.max().rename(f"{metric}_max")]
    return pd.concat(parts, axis=1).reset_index()[columns]


def latency_by_model(db: sqlite3.Connection, filters: Filters = ALL,
                     ps: Sequence[float] = PERCENTILES) -> pd.DataFrame:
    """Per model: latency, time to first token and tokens per second, each with count,
    mean, min, p1, p25, p50, p75, p90, p99 and max (columns ``latency_p50``,
    ``time_to_first_token_p90``...)."""
    return percentiles_from(samples(db, filters), ps)


def distribution_from(sample: pd.DataFrame, metric: str = "latency",
                      bins: int = 30) -> pd.DataFrame:
    """A histogram per model over bins of equal width shared by all models (for overlaying)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    bins = max(1, int(bins))
    values = sample[["model", metric]].dropna()
    if values.empty:
        return pd.DataFrame({"model": pd.Series(dtype="str"), "bin": pd.Series(dtype="int64"),
                             "bin_start": pd.Series(dtype="float64"),
                             "bin_end": pd.Series(dtype="float64"),
                             "count": pd.Series(dtype="int64")})
    low, high = values[metric].min(), values[metric].max()
    width = (high - low) / bins
    if width > 0:
        index = ((values[metric] - low) // width).clip(upper=bins - 1).astype("int64")
    else:
        index = pd.Series(0, index=values.index, dtype="int64")
    counts = values.assign(bin=index).groupby(["model", "bin"]).size().rename("count").reset_index()
    counts["bin_start"] = low + counts["bin"] * width
    counts["bin_end"] = low + (counts["bin"] + 1) * width
    return counts[["model", "bin", "bin_start", "bin_end", "count"]]


def distribution(db: sqlite3.Connection, metric: str = "latency", filters: Filters = ALL,
                 bins: int = 30) -> pd.DataFrame:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    return distribution_from(samples(db, filters), metric, bins)


def requests(db: sqlite3.Connection, filters: Filters = ALL, limit: int = 100,
             offset: int = 0) -> pd.DataFrame:
    """The requests, newest first, without their bodies (``request_detail`` has those)."""
    where, params = filters.where()
    frame = _frame(db, f"""
        SELECT {', '.join(LIST_COLUMNS)} FROM {_source(filters, ordered=True)} WHERE {where}
        ORDER BY time DESC, id DESC LIMIT ? OFFSET ?""", [*params, int(limit), int(offset)])
    frame["tokens_estimated"] = frame["tokens_estimated"].astype(bool)
    return _times(frame, "time")


def request_count(db: sqlite3.Connection, filters: Filters = ALL) -> int:
    where, params = filters.where()
    return db.execute(f"SELECT COUNT(*) FROM {_source(filters)} WHERE {where}",
                      params).fetchone()[0]


def request_detail(db: sqlite3.Connection, request_id: int) -> dict[str, Any] | None:
    """Every column of one request, with params, request and response decoded from JSON."""
    cursor = db.execute("""
        SELECT r.*, b.request, b.response FROM requests r LEFT JOIN bodies b USING (id)
        WHERE r.id = ?""", [int(request_id)])
    row = cursor.fetchone()
    if row is None:
        return None
    detail = dict(zip([d[0] for d in cursor.description], row))
    for name in ("params", "request", "response"):
        if detail.get(name) is not None:
            detail[name] = json.loads(detail[name])
    detail["tokens_estimated"] = bool(detail["tokens_estimated"])
    detail["time"] = datetime.strptime(detail["time"], TIME_FORMAT).replace(tzinfo=UTC)
    return detail


def distinct_values(db: sqlite3.Connection, column: str) -> list[str]:
    """The values a filter can offer for ``model``, ``connection``, ``page``..., sorted."""
    if column not in DISTINCT_COLUMNS:
        raise ValueError(f"column must be one of {', '.join(DISTINCT_COLUMNS)}; got {column!r}")
    if column not in FILTER_COLUMNS:
        return [row[0] for row in db.execute(
            f"SELECT DISTINCT {column} FROM requests WHERE {column} IS NOT NULL ORDER BY 1")]
    # An indexed column: hop from one value to the next in its index (a "loose index
    # scan"), a few lookups per distinct value instead of a pass over every row.
    return [row[0] for row in db.execute(f"""
        WITH RECURSIVE hop(value) AS (
            SELECT MIN({column}) FROM requests
            UNION ALL
            SELECT (SELECT MIN({column}) FROM requests WHERE {column} > hop.value)
            FROM hop WHERE hop.value IS NOT NULL
        )
        SELECT value FROM hop WHERE value IS NOT NULL""")]


def span(db: sqlite3.Connection) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The first and last request's time (UTC), or Nones: two lookups in the time index."""
    # Two subqueries: SQLite answers a lone MIN or MAX from the index, but scans for both.
    first, last = db.execute("SELECT (SELECT MIN(time) FROM requests), "
                             "(SELECT MAX(time) FROM requests)").fetchone()
    if first is None:
        return None, None
    return pd.Timestamp(first, tz="UTC"), pd.Timestamp(last, tz="UTC")


@dataclass(frozen=True)
class RunningTotal:
    """The small total a request page shows for the current session."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    unpriced: int = 0
    estimated: int = 0
    reasoning_tokens: int = 0  # among the completion tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def session_total(db: sqlite3.Connection, since: datetime | None = None,
                  session: str | None = None) -> RunningTotal:
    """Totals of the requests made since a moment and/or by one session."""
    clauses, params = ["1"], []
    if since is not None:
        clauses.append("time >= ?")
        params.append(utc_text(since))
    if session is not None:
        clauses.append("session = ?")
        params.append(session)
    row = db.execute(f"""
        SELECT COUNT(*), TOTAL(prompt_tokens), TOTAL(completion_tokens), TOTAL(cost),
               COUNT(*) - COUNT(cost), TOTAL(tokens_estimated), TOTAL(reasoning_tokens)
        FROM requests WHERE {' AND '.join(clauses)}""", params).fetchone()
    return RunningTotal(int(row[0]), int(row[1]), int(row[2]), float(row[3]), int(row[4]),
                        int(row[5]), int(row[6]))


def to_csv(db: sqlite3.Connection, filters: Filters = ALL, *, with_bodies: bool = False,
           chunk: int = 20_000) -> str:
    """The filtered requests as CSV text, oldest first (bodies as JSON columns if asked)."""
    where, params = filters.where()
    columns = ", ".join(f"r.{c}" for c in CSV_COLUMNS)
    if with_bodies:
        columns += ", b.request, b.response"
    cursor = db.execute(f"""
        SELECT {columns} FROM requests r {'LEFT JOIN bodies b USING (id)' if with_bodies else ''}
        WHERE {where} ORDER BY r.time, r.id""", params)
    names = [d[0] for d in cursor.description]
    out = io.StringIO()
    header = True
    while batch := cursor.fetchmany(chunk):
        frame = pd.DataFrame.from_records(batch, columns=names)
        frame["tokens_estimated"] = frame["tokens_estimated"].astype(bool)
        frame.to_csv(out, index=False, header=header)
        header = False
    if header:
        pd.DataFrame(columns=names).to_csv(out, index=False)
    return out.getvalue()


# About how long each bucket is, to count the bars a span would draw.
BUCKET_WIDTH: dict[str, timedelta] = {
    "minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1),
    "week": timedelta(weeks=1), "month": timedelta(days=30.44),
}
MAX_BUCKETS = 1500


def coarsen(bucket: Bucket, first: datetime | None, last: datetime | None,
            max_buckets: int = MAX_BUCKETS) -> Bucket:
    """``bucket``, or the finest coarser one that draws at most ``max_buckets`` bars.

    Minutes over three months would be 130,000 bars: too many to send to a browser, and
    unreadable anyway. Months always fit.
    """
    _bucket(bucket)
    if first is None or last is None or pd.isna(first) or pd.isna(last):
        return bucket
    span = last - first
    names = list(BUCKET_WIDTH)
    for name in names[names.index(bucket):]:
        if span / BUCKET_WIDTH[name] <= max_buckets:
            return name  # type: ignore[return-value]
    return "month"


def suggest_bucket(first: datetime | None, last: datetime | None) -> Bucket:
    """A bucket that gives a readable number of bars for the span shown."""
    if first is None or last is None or pd.isna(first) or pd.isna(last):
        return "hour"
    span = last - first
    if span <= timedelta(hours=3):
        return "minute"
    if span <= timedelta(days=3):
        return "hour"
    if span <= timedelta(days=120):
        return "day"
    if span <= timedelta(days=3 * 365):
        return "week"
    return "month"


@dataclass
class UsageOverview:
    """Everything the Usage page draws for one choice of filters."""

    filters: Filters
    bucket: str
    totals: pd.DataFrame
    tokens_over_time: pd.DataFrame
    cost_over_time: pd.DataFrame
    by_model: pd.DataFrame
    by_page: pd.DataFrame
    by_connection: pd.DataFrame
    latency_by_model: pd.DataFrame
    requests: pd.DataFrame
    request_count: int


def overview(db: sqlite3.Connection, filters: Filters = ALL, bucket: Bucket | None = None,
             limit: int = 100,
             read_samples: Callable[[], pd.DataFrame] | None = None) -> UsageOverview:
    """All of the page's figures from three passes over the rows (the cube, the time series
    and the samples) plus index lookups for the table (the filter choices come first, from
    ``distinct_values``: the filters are drawn before these figures are computed).

    ``bucket`` None picks one from the span shown (the filter's, else the data's); one too
    fine for that span is coarsened (see ``coarsen``): ``UsageOverview.bucket`` says which.
    ``read_samples`` gives the samples when they are read elsewhere (by default: on ``db``,
    after the series).
    """
    summed = cube(db, filters)
    total = totals_from(summed)
    start, end = filters.bounds()
    first = pd.Timestamp(start, tz="UTC") if start else total["first"].iloc[0]
    last = pd.Timestamp(end, tz="UTC") if end else total["last"].iloc[0]
    bucket = suggest_bucket(first, last) if bucket is None else coarsen(bucket, first, last)
    timeline = series(db, filters, bucket)
    sample = read_samples() if read_samples is not None else samples(db, filters)
    return UsageOverview(
        filters=filters, bucket=bucket, totals=total,
        tokens_over_time=timeline[_TOKEN_SERIES], cost_over_time=timeline[_COST_SERIES],
        by_model=grouped_from(summed, "model"), by_page=grouped_from(summed, "page"),
        by_connection=grouped_from(summed, "connection"),
        latency_by_model=percentiles_from(sample),
        requests=requests(db, filters, limit), request_count=int(total["requests"].iloc[0]),
    )

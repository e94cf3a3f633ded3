"""A Compare run's cells side by side, or as a table, measured against a baseline cell.

Side by side: a column per value of one axis and a row per value of another; further axes
are narrowed to one value each. Larger grids default to a table with one row per cell. Either
way, what differs from the chosen baseline cell stands out: a badge on each card, and
highlighted values in the table. Model output is always shown as plain text.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from playground.sweep import CellResult, Difference, GridResult, Sample, format_value
from ui.errors import show_error
from ui.output import show_text
from ui.text import plain

SIDE_BY_SIDE, TABLE = "Side by side", "Table"
MAX_SIDE_BY_SIDE_COLUMNS = 6
MAX_SIDE_BY_SIDE_CELLS = 24
HIGHLIGHT = "background-color: rgba(255, 164, 33, 0.25)"
NO_ROWS = "(none)"


def show(result: GridResult) -> None:
    baseline = _pick_baseline(result)
    differences = result.differences(baseline)
    varying = [axis.name for axis in result.grid.axes if len(axis) > 1]
    suits = len(varying) <= 2 and len(result.cells) <= MAX_SIDE_BY_SIDE_CELLS
    # No key: the default follows the grid's shape, and a choice holds while it stays.
    view = st.radio("View", [SIDE_BY_SIDE, TABLE], index=0 if suits else 1, horizontal=True)
    if view == SIDE_BY_SIDE and varying:
        _side_by_side(result, varying, differences, baseline)
    elif view == SIDE_BY_SIDE:
        card(result.cells[0], heading=result.cells[0].cell.label)
    else:
        _table(result, differences, baseline)


def _pick_baseline(result: GridResult) -> str:
    labels = {cell_result.cell.id: f"{cell_result.cell.id}: {cell_result.cell.label}"
              for cell_result in result.cells}
    return st.selectbox("Baseline cell", list(labels), key="compare.baseline",
                        format_func=labels.get,
                        help="Every other cell is compared with this one: its settings and "
                             "whether its text is the same.")


def _side_by_side(result: GridResult, varying: list[str], differences: dict[str, Difference],
                  baseline: str) -> None:
    pickers = iter(st.columns(len(varying) + 1))
    across = next(pickers).selectbox("Columns", varying, key="compare.columns")
    others = [name for name in varying if name != across]
    down = next(pickers).selectbox("Rows", [NO_ROWS, *others], index=1 if others else 0,
                                   key="compare.rows")
    shown = result.cells
    for name in (name for name in others if name != down):
        value = next(pickers).selectbox(f"Only {name}", result.grid.axis(name).values,
                                        format_func=format_value, key=f"compare.only.{name}")
        shown = [r for r in shown if r.cell.settings[name] == value]
    columns_of = result.grid.axis(across).values
    if len(columns_of) > MAX_SIDE_BY_SIDE_COLUMNS:
        st.caption("Many columns: the table view may read better.")
    for row_value in result.grid.axis(down).values if down != NO_ROWS else [None]:
        in_row = [r for r in shown if row_value is None or r.cell.settings[down] == row_value]
        for column, column_value in zip(st.columns(len(columns_of)), columns_of):
            with column:
                for cell_result in in_row:
                    if cell_result.cell.settings[across] == column_value:
                        card(cell_result, differences[cell_result.cell.id],
                             cell_result.cell.id == baseline, heading=cell_result.cell.label)


def card(result: CellResult, difference: Difference | None = None, is_baseline: bool = False,
         *, heading: str) -> None:
    """One cell: its texts, finish reason, tokens, latency and metrics, or its error."""
    with st.container(border=True):
        st.markdown(f"**{plain(heading)}** · {plain(result.cell.id)}")
        if is_baseline:
            st.badge("Baseline", icon=":material/flag:", color="blue")
        elif difference is not None:
            _difference_badge(difference)
        if result.status == "failed":
            show_error(result.error)
        elif result.status == "cancelled":
            st.caption("Stopped: what arrived before the run was cancelled or interrupted is "
                       "shown." if result.samples else
                       "Not run: the run was cancelled or interrupted.")
        for sample in result.samples:
            show_text(sample.text)
            st.caption(plain(_sample_facts(sample, result.status)))
        if result.samples:
            st.caption(plain(_metrics_line(result)))


def _difference_badge(difference: Difference) -> None:
    if difference.same_text:
        st.badge("Same text as baseline", icon=":material/check:", color="green")
    elif difference.same_text is False:
        st.badge(f"Text differs: {difference.similarity:.0%} similar",
                 icon=":material/difference:", color="orange")
    changed = ", ".join(f"{name} {format_value(value)} (baseline {format_value(base)})"
                        for name, (value, base) in difference.settings.items())
    if changed:
        st.caption(plain(changed))


NO_FINISH = {"failed": "none (cut short)", "cancelled": "none (stopped)"}


def _sample_facts(sample: Sample, status: str) -> str:
    """A sample's finish reason, tokens and latency; a sample without a finish reason in a
    cell that failed or was cancelled is what arrived before its stream ended."""
    tokens = "? tokens" if sample.tokens is None else f"{sample.tokens} tokens"
    latency = "" if sample.latency is None else f" · {sample.latency:.2f} s"
    finish = sample.finish_reason or NO_FINISH.get(status, "none")
    return f"finish_reason: {finish} · {tokens}{latency}"


def _metrics_line(result: CellResult) -> str:
    """The cell's metrics, averaged over its samples; those without a value left out."""
    row = result.summary_row([])
    parts = [f"{row['words']:g} words", f"distinct-1 {_number(row['distinct_1'])}",
             f"distinct-2 {_number(row['distinct_2'])}",
             f"repetition {_number(row['repetition'])}"]
    if row["mean_logprob"] is not None:
        parts.append(f"mean logprob {_number(row['mean_logprob'])}, "
                     f"perplexity {_number(row['perplexity'])}")
    if row["identical_share"] is not None:
        parts.append(f"identical samples {row['identical_share']:.0%}, "
                     f"similarity {row['mean_similarity']:.0%}")
    return " · ".join(parts)


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _table_frame(result: GridResult, differences: dict[str, Difference]) -> pd.DataFrame:
    """One row per cell: settings, first text, facts, metrics and likeness to the baseline."""
    frame = result.cells_frame()
    frame.insert(frame.columns.get_loc("status") + 1, "text",
                 [r.samples[0].text if r.samples else None for r in result.cells])
    frame["finish_reason"] = [r.samples[0].finish_reason if r.samples else None
                              for r in result.cells]
    frame["similar_to_baseline"] = [differences[r.cell.id].similarity for r in result.cells]
    return frame.drop(columns=["cell_index", "label", "error_kind", "n_ignored"])


def _table(result: GridResult, differences: dict[str, Difference], baseline: str) -> None:
    frame = _table_frame(result, differences)
    compared = [name for name in ("model", "connection", *(a.name for a in result.grid.axes),
                                  "text", "finish_reason") if name in frame]
    base = frame[frame["cell"] == baseline].iloc[0]

    def highlight(column: pd.Series) -> list[str]:
        if column.name not in compared:
            return [""] * len(column)
        return ["" if _same(value, base[column.name]) else HIGHLIGHT for value in column]

    st.dataframe(frame.style.apply(highlight), hide_index=True,
                 column_config={"text": st.column_config.TextColumn("Text", width="large")})
    st.caption("Highlighted: values that differ from the baseline cell.")


def _same(value, other) -> bool:
    if pd.isna(value) or pd.isna(other):
        return pd.isna(value) and pd.isna(other)
    return value == other

"""A Compare run's cells side by side, or as a table, measured against a baseline cell.

Side by side is a matrix: a row of cards per value of one setting, a card per value of
another along the row, any further setting narrowed to one value at a time. Cards keep a
width a line of text fits in and wrap into more rows when the window is too narrow for a
row, so no text is squeezed into a sliver. Up to ``MAX_SIDE_BY_SIDE_CELLS`` cells the page
opens side by side, above that as a table (one row per cell), until the user chooses.

Either way, what differs from the chosen baseline cell stands out: a badge on each card,
where its text first parts from the baseline's (with both tokens' probabilities when
log-probabilities came back), highlighted values in the table, and the cells that gave the
same text counted together. Model output is plain text unless "Render as Markdown" is on,
and never runs as HTML.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from playground.compare import CellResult, Difference, GridResult, Sample, format_value
from playground.compare.metrics import Divergence
from ui.common import token_view
from ui.common.errors import show_error
from ui.common.output import show_text
from ui.common.text import plain

SIDE_BY_SIDE, TABLE = "Side by side", "Table"
MAX_SIDE_BY_SIDE_CELLS = 24
CARD_WIDTH = 300  # pixels: wide enough for a line of text, narrow enough for rows of three
HIGHLIGHT = "background-color: rgba(255, 164, 33, 0.25)"
NO_ROWS = "(none)"
VIEW, VIEW_CHOSEN, MARKDOWN = "compare.view", "compare.view_chosen", "compare.markdown"
CONTEXT_CHARS = 40


def show(result: GridResult) -> None:
    baseline = _pick_baseline(result)
    differences = result.differences(baseline)
    _same_text_groups(result)
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    with left:
        view = _pick_view(len(result.cells))
    markdown = right.toggle("Render as Markdown", key=MARKDOWN,
                            help="Show the outputs' Markdown formatted (headings, lists, "
                                 "emphasis). HTML in an output is shown as text, never run.")
    varying = [axis.name for axis in result.grid.axes if len(axis) > 1]
    if view == SIDE_BY_SIDE and varying:
        _side_by_side(result, varying, differences, baseline, markdown)
    elif view == SIDE_BY_SIDE:
        card(result.cells[0], heading=result.cells[0].cell.label, markdown=markdown)
    else:
        _table(result, differences, baseline)


def _pick_view(cells: int) -> str:
    """The user's choice once made; until then the one that suits the cell count."""
    if not st.session_state.get(VIEW_CHOSEN):
        st.session_state[VIEW] = SIDE_BY_SIDE if cells <= MAX_SIDE_BY_SIDE_CELLS else TABLE
    return st.radio("View", [SIDE_BY_SIDE, TABLE], key=VIEW, horizontal=True,
                    on_change=lambda: st.session_state.update({VIEW_CHOSEN: True}),
                    help=f"Side by side suits up to {MAX_SIDE_BY_SIDE_CELLS} cells; the "
                         f"table has one row per cell.")


def _pick_baseline(result: GridResult) -> str:
    """The baseline among this grid's cells; a grid of other cells gets a selector of its
    own (keyed by its cells), so no label of an earlier grid lingers."""
    labels = {cell_result.cell.id: f"{cell_result.cell.id}: {cell_result.cell.label}"
              for cell_result in result.cells}
    key = f"compare.baseline.{abs(hash(tuple(labels.values())))}"
    return st.selectbox("Baseline cell", list(labels), key=key, format_func=labels.get,
                        help="Every other cell is compared with this one: its settings, "
                             "whether its text is the same, and where it first differs.")


def _same_text_groups(result: GridResult) -> None:
    for group in result.same_text_groups():
        names = "; ".join(f"{r.cell.id} ({r.cell.label})" for r in group)
        st.caption(plain(f"{len(group)} cells gave the same text: {names}"))


def _side_by_side(result: GridResult, varying: list[str], differences: dict[str, Difference],
                  baseline: str, markdown: bool) -> None:
    by_size = sorted(varying, key=lambda name: len(result.grid.axis(name)))
    pickers = iter(st.columns(len(varying) + 1))
    across = next(pickers).selectbox("Along each row", varying, index=varying.index(by_size[0]),
                                     key="compare.columns")
    others = [name for name in varying if name != across]
    down = next(pickers).selectbox("A row per", [NO_ROWS, *others], index=1 if others else 0,
                                   key="compare.rows")
    shown = result.cells
    for name in (name for name in others if name != down):
        value = next(pickers).selectbox(f"Only {name}", result.grid.axis(name).values,
                                        format_func=format_value, key=f"compare.only.{name}")
        shown = [r for r in shown if r.cell.settings[name] == value]
    for row_value in result.grid.axis(down).values if down != NO_ROWS else [None]:
        in_row = [r for r in shown if row_value is None or r.cell.settings[down] == row_value]
        if row_value is not None:
            st.markdown(plain(f"{down} = {format_value(row_value)}"))
        with st.container(horizontal=True, gap="small"):
            for column_value in result.grid.axis(across).values:
                for cell_result in in_row:
                    if cell_result.cell.settings[across] == column_value:
                        card(cell_result, differences[cell_result.cell.id],
                             cell_result.cell.id == baseline, heading=cell_result.cell.label,
                             markdown=markdown)


def card(result: CellResult, difference: Difference | None = None, is_baseline: bool = False,
         *, heading: str, markdown: bool = False) -> None:
    """One cell: its texts, finish reason, tokens, latency and metrics, or its error."""
    with st.container(border=True, width=CARD_WIDTH):
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
            show_output(sample.text, markdown)
            st.caption(plain(_sample_facts(sample, result)))
        if result.samples:
            st.caption(plain(_metrics_line(result)))


def show_output(text: str, markdown: bool) -> None:
    """Model output: plain text, or Markdown with any HTML in it shown as text."""
    show_text(text, markdown=markdown)


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
    if difference.divergence is not None:
        st.markdown(divergence_markdown(difference.divergence))


def divergence_markdown(found: Divergence) -> str:
    """Where the text parts from the baseline's: the last words they share, then this
    text's piece and the baseline's, each with its probability when known."""
    context = ("…" if len(found.prefix) > CONTEXT_CHARS else "") + found.prefix[-CONTEXT_CHARS:]
    shared = f"after {plain(token_view.quoted(context))}" if found.prefix else "from the start"
    return (f"First differs at {found.unit} {found.position + 1}, {shared}: "
            f":orange-background[{plain(_piece(found.this, found.this_probability))}] here, "
            f":blue-background[{plain(_piece(found.base, found.base_probability))}] in the "
            f"baseline")


def _piece(text: str | None, probability: float | None = None) -> str:
    """A token or word as typed in a quote ("(end)" where the text has ended), and its
    probability when known; not escaped for Markdown."""
    shown = "(end)" if text is None else token_view.quoted(text)
    return shown + ("" if probability is None else f" p={token_view.percent(probability)}")


NO_FINISH = {"failed": "none (cut short)", "cancelled": "none (stopped)"}


def _sample_facts(sample: Sample, result: CellResult) -> str:
    """A sample's finish reason, tokens and latency; a sample without a finish reason in a
    cell that failed or was cancelled is what arrived before its stream ended. Without a
    count of its own, the cell's total stands in, said as such."""
    total = result.usage.get("completion_tokens")
    tokens = (f"{sample.tokens} tokens" if sample.tokens is not None else
              f"{total} tokens in all {len(result.samples)} samples" if total is not None
              else "tokens not reported")
    latency = "" if sample.latency is None else f" · {sample.latency:.2f} s"
    finish = sample.finish_reason or NO_FINISH.get(result.status, "none")
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
    frame["first_difference"] = [_where(differences[r.cell.id].divergence) for r in result.cells]
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


def _where(found: Divergence | None) -> str | None:
    if found is None:
        return None
    return f"{found.unit} {found.position + 1}: {_piece(found.this)} vs {_piece(found.base)}"


def _same(value, other) -> bool:
    if pd.isna(value) or pd.isna(other):
        return pd.isna(value) and pd.isna(other)
    return value == other

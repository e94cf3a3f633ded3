"""Running a Compare grid on the page: progress, cells as they end, cancel, re-runs.

The grid runs in the script thread, and ``run_grid`` calls back there, so its callbacks can
draw the progress bar and each cell as it ends. Cancel is an ordinary button: clicking it
asks Streamlit for a rerun, and Streamlit interrupts the running script at its next call
into Streamlit, which is the run's ``should_cancel`` poll of session state; the exception
Streamlit raises there goes through ``run_grid``, which stops at once without waiting for
requests in flight. The run's ``GridResult`` is in session state from the start and each
cell is put in as it ends, so the finished cells survive the interruption; ``current()``
marks the others cancelled on the next script run. Any other click during a run
interrupts it the same way (that is how Streamlit runs scripts), and the page says so.

The result's wall time is kept up to date as each cell ends, so an interrupted run still
says how long it ran; a re-run of some cells adds its own time to it. The progress line
gives the run's pace: the completion tokens of the cells it has finished over its wall time
so far. Cells of a local model are sent as many at a time as it decodes together.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import streamlit as st

from playground import connection
from playground.compare import Cell, CellResult, Grid, GridResult, progress_text, run_grid
from playground.compare.cell_run import limits_of
from playground.compare.concurrency import completion_tokens
from playground.connection import Connection
from playground.errors import ConnectionFailed, InvalidParameters
from playground.refusals import RefusalStore
from ui.common import sidebar, usage_total
from ui.common.recording import recorder
from ui.common.text import plain
from ui.compare import batching, keys, results

PAGE = "Compare"


def current() -> GridResult | None:
    """The page's run, with the cells of an interrupted run marked cancelled."""
    result = st.session_state.get(keys.COMPARE_RESULT)
    if result is not None:
        result.settle()
    return result


def start(grid: Grid, conn: Connection, workers: int, problems_area) -> None:
    """Run every cell of the grid; if it does not check, say why in ``problems_area``."""
    if _checks(grid, conn, problems_area):
        cells = grid.cells()
        _run(GridResult.starting(grid, cells), cells, conn, workers)


def rerun(result: GridResult, statuses: set[str], conn: Connection, workers: int) -> None:
    """Run again the cells of ``result`` whose status is in ``statuses``."""
    cells = [cell_result.cell for cell_result in result.cells if cell_result.status in statuses]
    if cells and _checks(result.grid, conn, st):
        _run(result, cells, conn, workers)


def _checks(grid: Grid, conn: Connection, problems_area) -> bool:
    """Nothing is sent, and the page's previous result stays, when the grid fails this
    (each cell's values checked against its model's ranges, as its requests will be)."""
    try:
        grid.check(limits_of(resolver(conn), RefusalStore()))
    except InvalidParameters as exc:
        for problem in exc.errors:
            problems_area.error(plain(problem.message))
        problems_area.warning(plain(exc.hint))
        return False
    return True


def _run(result: GridResult, cells: list[Cell], conn: Connection, workers: int) -> None:
    st.session_state[keys.COMPARE_RESULT] = result
    st.session_state[keys.COMPARE_CANCEL] = False
    result.cancelled = False
    batch_sizes = batching.batch_sizes(((cell.connection, cell.model) for cell in cells), conn)
    began, earlier = time.perf_counter(), result.wall_time
    for cell in cells:
        result.update(CellResult(cell))
    area = st.empty()
    with area.container():
        bar = st.progress(0.0, text=progress_text(0, len(cells), None, 0.0))
        st.button("Cancel", icon=":material/stop:", on_click=_cancel,
                  help="Stops sending cells; requests already sent are not waited for.")
        finished = st.container(horizontal=True, gap="small")
    done: list[CellResult] = []  # this run's cells, as they end

    def on_cell_done(cell_result: CellResult) -> None:
        done.append(cell_result)
        result.update(cell_result)
        seconds = time.perf_counter() - began
        result.wall_time = earlier + seconds
        bar.progress(len(done) / len(cells), text=progress_text(
            len(done), len(cells), completion_tokens(done), seconds))
        with finished:
            results.card(cell_result, heading=cell_result.cell.label)

    shown = [0]  # whole seconds on the progress line

    def tick() -> bool:
        """Polled while cells run: the progress line's clock moves every second."""
        seconds = time.perf_counter() - began
        if int(seconds) > shown[0]:
            shown[0] = int(seconds)
            bar.progress(len(done) / len(cells), text=progress_text(
                len(done), len(cells), completion_tokens(done), seconds))
        return _cancel_requested()

    final = run_grid(result.grid, resolver(conn), max_workers=workers, cells=cells,
                     batch_sizes=batch_sizes,
                     on_cell_done=on_cell_done, should_cancel=tick,
                     recorder=recorder(PAGE), refusals=RefusalStore())
    for cell_result in final.cells:
        result.update(cell_result)
    result.wall_time, result.cancelled = earlier + final.wall_time, final.cancelled
    area.empty()
    usage_total.refresh()


def _cancel() -> None:
    st.session_state[keys.COMPARE_CANCEL] = True


def _cancel_requested() -> bool:
    # Reading session state is also where Streamlit stops a script whose user clicked.
    return bool(st.session_state[keys.COMPARE_CANCEL])


def cancelled_by_user() -> bool:
    return bool(st.session_state.get(keys.COMPARE_CANCEL))


def resolver(current_conn: Connection) -> Callable[[str], Connection]:
    """Connection name -> connection with its key, resolved as the sidebar resolves it:
    what was typed for it in this session, then secrets.toml, the environment, the preset."""
    def resolve(name: str) -> Connection:
        if name == current_conn.name:
            return current_conn
        found = {conn.name: conn for conn in connection.all_connections()}.get(name)
        if found is None:
            raise ConnectionFailed(f"There is no connection named {name!r}.",
                                   hint="Use a connection listed in the sidebar, or save it "
                                        "there under that name.")
        return sidebar.as_typed(found)
    return resolve


def cells(count: int) -> str:
    return f"{count} cell{'' if count == 1 else 's'}"


def _failed(count: int) -> str:
    return "the failed cell" if count == 1 else f"the {count} failed cells"


def _not_run(count: int) -> str:
    return "the cell not run" if count == 1 else f"the {count} cells not run"


def status(result: GridResult, conn: Connection, workers: int) -> None:
    """What the run came to, and buttons to run again the cells that failed or never ran."""
    counts = {name: len(result.by_status(name)) for name in ("ok", "failed", "cancelled")}
    st.caption(plain(f"{len(result.cells)} cells: {counts['ok']} ok, {counts['failed']} failed, "
                     f"{counts['cancelled']} not run · {result.wall_time:.1f} s"))
    if counts["cancelled"]:
        st.warning(plain(
            f"Cancelled: {cells(counts['cancelled'])} did not run." if cancelled_by_user() else
            f"Interrupted: the page changed while the grid ran, and "
            f"{cells(counts['cancelled'])} did not run."), icon=":material/stop_circle:")
    left, right = st.columns(2)
    failed = counts["failed"] and left.button(f"Re-run {_failed(counts['failed'])}",
                                              icon=":material/replay:")
    not_run = counts["cancelled"] and right.button(f"Run {_not_run(counts['cancelled'])}",
                                                   icon=":material/play_arrow:")
    if failed or not_run:
        rerun(result, {"failed"} if failed else {"cancelled"}, conn, workers)
        st.rerun()  # redraw this summary, now out of date, with the new results

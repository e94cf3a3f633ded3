"""Keeping a Compare run: save it next to the usage history, reopen it (results and form
together) or delete it, export it."""

from __future__ import annotations

import streamlit as st

from playground.compare import GridResult, RunStore, form_of
from playground.connection import Connection
from playground.errors import PlaygroundError
from ui.common.errors import show_error
from ui.common.text import plain
from ui.compare import grid_setup, keys


def store() -> RunStore:
    """Runs go to the usage history's file (``PLAYGROUND_DB``, else the data folder's)."""
    return RunStore()


def default_name(result: GridResult) -> str:
    shape = " × ".join(f"{axis.name} ({len(axis)})" for axis in result.grid.axes)
    return f"{result.grid.model or 'models'}: {shape or 'fixed settings'}"


def save_and_export(result: GridResult, conn: Connection) -> None:
    name_column, csv_column, json_column = st.columns([3, 1, 1], vertical_alignment="bottom")
    name = name_column.text_input("Name of the run", key="compare.save_name",
                                  placeholder=default_name(result))
    if name_column.button("Save run", icon=":material/save:"):
        try:
            run_id = store().save(result, name or default_name(result),
                                  secrets=[conn.api_key or ""])
            st.success(plain(f"Saved as run #{run_id}; reopen it from Saved runs."))
        except PlaygroundError as exc:
            show_error(exc)
    csv_column.download_button("Export CSV", result.to_csv(), file_name="compare-run.csv",
                               mime="text/csv", on_click="ignore", icon=":material/download:")
    json_column.download_button("Export JSON", result.to_json(), file_name="compare-run.json",
                                mime="application/json", on_click="ignore",
                                icon=":material/download:")


def saved_runs() -> None:
    """The saved runs, each to open (it becomes the page's run) or delete."""
    with st.expander("Saved runs"):
        try:
            runs = {run.id: run for run in store().runs()}
        except PlaygroundError as exc:
            show_error(exc)
            return
        if not runs:
            st.caption("No saved runs yet: run a grid, then Save run.")
            return
        chosen = st.selectbox("Saved run", list(runs), format_func=lambda i: runs[i].title,
                              key="compare.saved")
        open_column, delete_column = st.columns(2)
        try:
            if open_column.button("Open", icon=":material/folder_open:",
                                  help="Show the run's results, and put its prompt and "
                                       "settings back in the form, ready to run again."):
                result = store().load(chosen)
                grid_setup.restore(form_of(result.grid))
                st.session_state[keys.COMPARE_RESULT] = result
                st.session_state[keys.COMPARE_CANCEL] = False
                st.rerun()
            if delete_column.button("Delete", icon=":material/delete:"):
                store().delete(chosen)
                st.rerun()
        except PlaygroundError as exc:
            show_error(exc)

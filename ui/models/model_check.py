"""Check this model, on a page: the cost first, a confirmation, then one small request per
doubtful parameter (``playground.model_check``); the findings in a table, and remembered so
that every page applies them from then on.

The confirmation is an ordinary pair of buttons rather than a dialog, so nothing is sent
before the second click, and the page is tested as it is used.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from playground import model_check
from playground.catalog import current_prices
from playground.connection import Connection
from playground.errors import PlaygroundError
from playground.refusals import RefusalStore
from ui.common.errors import show_error
from ui.common.recording import recorder
from ui.common.text import plain

ASKED = "model_check.asked"  # (connection, model) waiting for the confirmation
FOUND = "model_check.found"  # (connection, model) -> its findings, for this session
VERDICTS = {"accepted": "accepted", "refused": "refused (remembered)",
            "unclear": "unclear: refused without naming a parameter"}


def render(conn: Connection, model: str | None, page: str) -> None:
    """The check for ``model`` of ``conn``; ``page`` names its requests in the usage ledger."""
    if not model:
        return
    here = (conn.name, model)
    st.markdown("**What this model accepts**")
    figures = model_check.estimate(model, current_prices())
    if st.session_state.get(ASKED) != here:
        st.button("Check this model", key=f"{ASKED}.start", icon=":material/fact_check:",
                  on_click=_ask, args=(here,),
                  help="Find out which parameters it takes, one tiny request each; the cost "
                       "is shown before anything is sent.")
    else:
        st.warning(plain(figures.summary(model) + " Send them?"), icon=":material/paid:")
        go, cancel = st.columns(2)
        cancel.button("Cancel", key=f"{ASKED}.cancel", on_click=_ask, args=(None,))
        if go.button(f"Send {figures.requests} requests", key=f"{ASKED}.send", type="primary"):
            st.session_state[ASKED] = None
            _run(conn, model, page)
    found = st.session_state.get(FOUND, {}).get(here)
    if found is not None:
        show(found)


def _ask(here: tuple[str, str] | None) -> None:
    st.session_state[ASKED] = here


def _run(conn: Connection, model: str, page: str) -> None:
    findings: list[model_check.Finding] = []
    send = recorder(page).run
    with st.status(f"Checking {model}…") as progress:
        try:
            for finding in model_check.check(conn, model, RefusalStore(), send):
                findings.append(finding)
                progress.write(plain(f"{finding.param}: {finding.verdict}"))
        except PlaygroundError as exc:
            progress.update(label="The check stopped", state="error")
            show_error(exc)
        else:
            progress.update(label=f"Checked {model}", state="complete")
    st.session_state.setdefault(FOUND, {})[(conn.name, model)] = findings


def show(findings: list[model_check.Finding]) -> None:
    if not findings:
        return
    st.dataframe(pd.DataFrame(
        [(f.param, VERDICTS[f.verdict], f.message) for f in findings],
        columns=["Parameter", "Verdict", "What the server said"]), hide_index=True)
    st.caption("Remembered for this connection and model: Chat, Completions and Compare "
               "apply it from now on.")

"""The small running total of this browser session's requests, at the foot of the sidebar.

The sidebar draws before the page sends its request, so ``show`` keeps the slot it drew
into and ``refresh`` redraws it: a page calls it after a request to include that request
at once rather than on the next rerun.
"""

from __future__ import annotations

import threading

import streamlit as st

from playground.errors import PlaygroundError
from playground.ledger.queries import RunningTotal
from ui.common import recording
from ui.common.text import plain
from ui.common.usage_format import count, money, requests

_slot = threading.local()  # this script run's placeholder (one thread runs a session's script)


def show(enabled: bool = True) -> None:
    """Draw the total into a new slot of the current container (the sidebar); with
    ``enabled`` False, draw nothing and forget the previous run's slot."""
    _slot.placeholder = st.empty() if enabled else None
    refresh()


def refresh() -> None:
    placeholder = getattr(_slot, "placeholder", None)
    if placeholder is None:
        return
    try:
        total = recording.default_ledger().session_total(session=recording.session_id())
    except PlaygroundError as exc:
        placeholder.caption(plain(f"Usage not recorded: {exc.message}"))
        return
    placeholder.caption(plain(describe(total)), help="Requests sent from this browser tab since it "
                        "opened. Every request is on the Usage page; the cost is estimated "
                        "from the price list on the Models page.")


def describe(total: RunningTotal) -> str:
    """``This session: 3 requests · 1,234 tokens · $0.0012``, with what is estimated and
    how many requests the cost leaves out for want of a price."""
    if total.requests == 0:
        return "This session: no requests yet"
    tokens = f"{'≈' if total.estimated else ''}{count(total.total_tokens)} tokens"
    if total.reasoning_tokens:
        tokens += f" ({count(total.reasoning_tokens)} reasoning)"
    if total.unpriced == total.requests:
        cost = "cost unknown"
    else:
        unpriced = total.unpriced
        cost = money(total.cost) + (
            f", plus {requests(unpriced)} with no price" if unpriced else "")
    return f"This session: {requests(total.requests)} · {tokens} · {cost}"

"""Numbers of the usage ledger as people read them: dollars, token counts, seconds."""

from __future__ import annotations

import math


def money(dollars: float | None) -> str:
    """Dollars to the cent from $1, else to three significant digits: a cheap model's
    request costs a few millionths of a dollar, and "$0.00" would hide it."""
    if dollars is None or not math.isfinite(dollars):
        return "–"
    if dollars == 0:
        return "$0"
    if abs(dollars) >= 1:
        return f"${dollars:,.2f}"
    return f"${dollars:.3g}" if abs(dollars) >= 1e-4 else f"${dollars:.2e}"


def count(value: float | None) -> str:
    """A whole number with thousands separators."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{int(value):,}"


def requests(value: float) -> str:
    """``1 request``, ``2 requests``."""
    return f"{count(value)} request{'' if value == 1 else 's'}"


def seconds(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def rate(value: float | None) -> str:
    """Tokens per second."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.1f}/s"

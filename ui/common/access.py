"""An optional shared password, asked before any page renders, for an app served to others.

With ``PLAYGROUND_PASSWORD`` set in ``.streamlit/secrets.toml`` or the environment, a new
browser session sees nothing but a password prompt until it gives that password; without it
the app opens at once, as a tool listening on this machine only does. The password typed is
compared in constant time. A session that gave it is remembered by a fingerprint of the
password, so changing the password locks out sessions that gave the old one.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import streamlit as st

PASSWORD_VARIABLE = "PLAYGROUND_PASSWORD"
UNLOCKED = "access.unlocked"  # session state: the fingerprint of the password given
WRONG = ("Wrong password: nothing is shown without the right one. Ask whoever runs the "
         "playground for it.")


def configured_password() -> str | None:
    """PLAYGROUND_PASSWORD from .streamlit/secrets.toml, else the environment; None if unset."""
    if st.secrets.load_if_toml_exists():
        value = st.secrets.get(PASSWORD_VARIABLE)
        if isinstance(value, (str, int, float)) and str(value):
            return str(value)
    return os.environ.get(PASSWORD_VARIABLE) or None


def allowed() -> bool:
    """Whether this session may see the pages: no password is set, or it gave the one set."""
    expected = configured_password()
    if expected is None:
        return True
    given = st.session_state.get(UNLOCKED)
    return isinstance(given, bytes) and hmac.compare_digest(given, _fingerprint(expected))


def ask() -> None:
    """Draw the password prompt and end the run; a right password reruns into the app."""
    expected = configured_password()
    st.title("Parameter playground")
    with st.form("access.form", clear_on_submit=True):
        typed = st.text_input("Password", type="password", autocomplete="current-password",
                              help=f"Set by whoever runs the playground ({PASSWORD_VARIABLE}).")
        submitted = st.form_submit_button("Open the playground")
    if submitted and expected is not None:
        if matches(typed, expected):
            st.session_state[UNLOCKED] = _fingerprint(expected)
            st.rerun()
        st.error(WRONG, icon=":material/lock:")
    st.stop()


def matches(typed: str, expected: str) -> bool:
    """Constant-time comparison; bytes, since compare_digest refuses non-ASCII text."""
    return hmac.compare_digest(typed.encode(), expected.encode())


def _fingerprint(password: str) -> bytes:
    return hashlib.sha256(password.encode()).digest()

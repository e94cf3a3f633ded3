"""Text from servers and users shown inside Streamlit's markdown-rendering elements.

``st.error``, ``st.caption`` and friends render markdown; a server's error message or a
model id must show as the characters it is, not as links, images, emphasis or LaTeX.
"""

from __future__ import annotations

import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: object) -> str:
    """Backslash-escape every character that markdown (or Streamlit's LaTeX) would interpret."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))

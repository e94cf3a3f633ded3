"""Where the app keeps its files: one data folder the user can choose."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_VARIABLE = "PLAYGROUND_DATA_DIR"


def data_dir() -> Path:
    """The folder for history, saved connections, prices and logs (created on first use).

    ``PLAYGROUND_DATA_DIR`` chooses it; the default is ``~/.parameter-playground``.
    """
    folder = Path(os.environ.get(DATA_DIR_VARIABLE) or Path.home() / ".parameter-playground")
    folder.mkdir(parents=True, exist_ok=True)
    return folder

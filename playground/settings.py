"""Where the app keeps its files, and keeping them private.

The data folder holds prompts and replies (the usage ledger), saved connections, presets,
prices and the local server's log: nobody but its owner should read them. The folder is
made 0700 and every file the app writes in it is created 0600 (``private_opener``,
``write_private``, ``create_private``), whatever the process's umask. Files already there
from an older version, or copied in, are tightened once per process when the folder is
first asked for: group and others lose every permission, the owner keeps theirs.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

DATA_DIR_VARIABLE = "PLAYGROUND_DATA_DIR"
PRIVATE_FOLDER_MODE = 0o700
PRIVATE_FILE_MODE = 0o600

_tightened: set[Path] = set()
_tightened_lock = threading.Lock()


def data_dir() -> Path:
    """The folder for history, saved connections, prices and logs (made private on first use).

    ``PLAYGROUND_DATA_DIR`` chooses it; the default is ``~/.parameter-playground``.
    """
    folder = Path(os.environ.get(DATA_DIR_VARIABLE) or Path.home() / ".parameter-playground")
    if folder not in _tightened:
        with _tightened_lock:
            if folder not in _tightened:
                make_private_folder(folder)
                tighten_files(folder)
                _tightened.add(folder)
    return folder


def make_private_folder(folder: Path) -> None:
    """Create the folder (and missing parents) if need be, and make it the owner's only."""
    folder.mkdir(mode=PRIVATE_FOLDER_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(folder.stat().st_mode) != PRIVATE_FOLDER_MODE:
        folder.chmod(PRIVATE_FOLDER_MODE)


def tighten_files(folder: Path) -> None:
    """Take group's and others' permissions off every file directly in ``folder``.

    Symbolic links are not followed; a file that cannot be changed (another owner's) is
    left as it is.
    """
    for entry in os.scandir(folder):
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            mode = stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode)
            if mode & 0o077:
                os.chmod(entry.path, mode & 0o700)
        except OSError:
            continue


def private_opener(path: str | os.PathLike, flags: int) -> int:
    """An ``opener`` for ``open()`` whose file only its owner can read: new files are made
    0600 whatever the umask, and an existing file is tightened to 0600."""
    descriptor = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(descriptor).st_mode) != PRIVATE_FILE_MODE:
            os.fchmod(descriptor, PRIVATE_FILE_MODE)
    except OSError:
        os.close(descriptor)
        raise
    return descriptor


def write_private(path: Path, text: str, encoding: str = "utf-8") -> None:
    """``path.write_text(text)``, the file readable by its owner only."""
    with open(path, "w", encoding=encoding, opener=private_opener) as file:
        file.write(text)


def create_private(path: Path) -> None:
    """Make sure ``path`` exists and is 0600, without changing what it holds (before SQLite
    opens a database file: its -wal and -shm files take the main file's permissions)."""
    os.close(private_opener(path, os.O_RDWR | os.O_CREAT))

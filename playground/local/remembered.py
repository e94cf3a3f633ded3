"""Small JSON files in the data folder where the local server remembers what it measured
about this machine (engine settings, batch sizes), so each is measured once.

Each file maps a key (what the measurement depends on, hashed) to an entry. A file that
cannot be read counts as empty; one that cannot be written is logged and the measurement
simply runs again next time.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from playground.settings import data_dir

log = logging.getLogger(__name__)
_lock = threading.Lock()


def _path(name: str) -> Path:
    return data_dir() / name


def read(name: str) -> dict:
    """Every entry of the file ``name``; empty when it is missing or unreadable."""
    try:
        entries = json.loads(_path(name).read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def store(name: str, key: str, entry: dict) -> None:
    """Add one entry to the file, written whole to a temporary file and renamed."""
    with _lock:
        entries = read(name)
        entries[key] = entry
        target = _path(name)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            temporary.write_text(json.dumps(entries, indent=1))
            os.replace(temporary, target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            log.warning("Could not remember %s in %s: %s", key[:12], target, exc)

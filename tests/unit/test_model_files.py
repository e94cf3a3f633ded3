"""Model files joined from chunks: built whole or not at all, rebuilt when found broken."""

from __future__ import annotations

import hashlib
import logging
import os
import time

import pytest

from playground.local import model_files
from playground.local.model_files import ensure_joined

CHUNKS = (b"GGUF" + b"a" * 5000, b"b" * 7000, b"c" * 3)


@pytest.fixture
def chunks(tmp_path):
    folder = tmp_path / "package"
    folder.mkdir()
    paths = []
    for number, content in enumerate(CHUNKS):
        path = folder / f"model.gguf.part{number:02d}"
        path.write_bytes(content)
        paths.append(path)
    return paths


@pytest.fixture
def target(tmp_path):
    model_files._verified.clear()
    yield tmp_path / "cache" / "model.gguf"
    model_files._verified.clear()


WHOLE = b"".join(CHUNKS)
SHA256 = hashlib.sha256(WHOLE).hexdigest()


def leftovers(target):
    return sorted(p.name for p in target.parent.iterdir() if p.name != target.name)


def test_a_missing_file_is_built_whole_with_nothing_left_beside_it(chunks, target, caplog):
    with caplog.at_level(logging.INFO, logger=model_files.__name__):
        assert ensure_joined(target, chunks, SHA256) == target
    assert target.read_bytes() == WHOLE
    assert leftovers(target) == []
    assert caplog.records == []


@pytest.mark.parametrize("damage, said", [
    (lambda path: path.write_bytes(WHOLE[:4096]),
     "truncated or wrong (4,096 bytes instead of 12,007)"),
    (lambda path: path.write_bytes(b"x" * len(WHOLE)), "corrupt"),
    (lambda path: path.write_bytes(WHOLE + b"more"), "truncated or wrong"),
], ids=["truncated", "same size, other bytes", "too long"])
def test_a_broken_file_is_rebuilt_with_one_log_line(chunks, target, caplog, damage, said):
    target.parent.mkdir(parents=True)
    damage(target)
    with caplog.at_level(logging.INFO, logger=model_files.__name__):
        ensure_joined(target, chunks, SHA256)
    assert target.read_bytes() == WHOLE
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert str(target) in record.getMessage() and said in record.getMessage()
    assert "rebuilt" in record.getMessage()
    assert leftovers(target) == []


def test_a_good_file_is_left_alone_and_hashed_once_per_process(chunks, target, caplog, monkeypatch):
    ensure_joined(target, chunks, SHA256)
    model_files._verified.clear()
    before = target.stat()
    hashed = []
    real_sha256 = model_files._sha256
    monkeypatch.setattr(model_files, "_sha256",
                        lambda path: hashed.append(path) or real_sha256(path))
    with caplog.at_level(logging.INFO, logger=model_files.__name__):
        ensure_joined(target, chunks, SHA256)
        ensure_joined(target, chunks, SHA256)
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert hashed == [target]
    assert caplog.records == []


def test_a_file_changed_after_it_was_checked_is_checked_again(chunks, target, caplog):
    ensure_joined(target, chunks, SHA256)
    with open(target, "r+b") as file:
        file.truncate(100)
    with caplog.at_level(logging.WARNING, logger=model_files.__name__):
        ensure_joined(target, chunks, SHA256)
    assert target.read_bytes() == WHOLE
    assert len(caplog.records) == 1


def test_damaged_chunks_leave_no_file_and_no_temporary(chunks, target):
    with pytest.raises(ValueError, match="reinstall"):
        ensure_joined(target, chunks, "0" * 64)
    assert not target.exists()
    assert leftovers(target) == []


def test_a_build_that_breaks_off_keeps_the_old_file_as_it_was(chunks, target):
    target.parent.mkdir(parents=True)
    target.write_bytes(WHOLE[:10])
    chunks[1].unlink()
    chunks[1].mkdir()  # reading it fails midway through the build
    with pytest.raises(OSError):
        ensure_joined(target, chunks, SHA256)
    assert target.read_bytes() == WHOLE[:10]
    assert leftovers(target) == []


def test_old_leftovers_of_killed_builds_are_removed_recent_ones_kept(chunks, target):
    target.parent.mkdir(parents=True)
    old = target.parent / f".{target.name}.killed.part"
    recent = target.parent / f".{target.name}.writing.part"
    for leftover in (old, recent):
        leftover.write_bytes(b"partial")
    an_hour_ago = time.time() - model_files.LEFTOVER_AGE - 60
    os.utime(old, (an_hour_ago, an_hour_ago))
    ensure_joined(target, chunks, SHA256)
    assert leftovers(target) == [recent.name]

"""A damaged usage history is set aside whole, a fresh one started, and the user told what
the old one held; nothing is deleted, nothing written to the console but why and how many."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from pathlib import Path

import pytest

from playground.chat import Conversation, Message
from playground.compare import Axis, CellResult, Grid, GridResult, RunStore, Sample
from playground.conversations import ConversationStore
from playground.errors import PlaygroundError
from playground.ledger import queries
from playground.ledger.damage import is_damage, set_aside, set_aside_files
from playground.ledger.records import UsageRecord
from playground.ledger.writer import Ledger, shared_ledger

PROMPT = "my-private-prompt-text"
REPLY = "my-private-reply-text"
SET_ASIDE_NAME = re.compile(r"^history\.sqlite3\.corrupt-\d{8}-\d{6}(-\d+)?$")


def a_record(**fields) -> UsageRecord:
    base = dict(page="Chat", connection="Local models", endpoint="chat", model="m",
                prompt_tokens=3, completion_tokens=4, latency=0.1,
                request={"messages": [{"role": "user", "content": PROMPT}]},
                response={"choices": [{"message": {"content": REPLY}}]})
    return UsageRecord(**{**base, **fields})


def a_run() -> GridResult:
    grid = Grid("chat", {"max_tokens": 4}, [Axis.parse("temperature", "0, 1")], model="m",
                connection="Local models", messages=[{"role": "user", "content": "Hi"}])
    cells = grid.cells()
    return GridResult(grid, [CellResult(cell, "ok", [Sample(0, "Hello.", "stop", [-0.1], 1, 0.1)],
                                        latency=0.1, requests=1) for cell in cells])


@pytest.fixture
def path(tmp_path) -> Path:
    """A history file holding two saved conversations, a Compare run and 300 requests."""
    file = tmp_path / "history.sqlite3"
    conversations = ConversationStore(file)
    conversations.save(Conversation(title="Baseball", messages=[Message("user", "Who won?")],
                                    updated="2026-01-02T00:00:00+00:00"))
    conversations.save(Conversation(title="Recipes", messages=[Message("user", "Soup?")],
                                    updated="2026-01-01T00:00:00+00:00"))
    RunStore(file).save(a_run(), "greedy vs hot")
    opened = Ledger(file)
    opened.insert_many(a_record() for _ in range(300))
    opened.close()
    return file


def page_size(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA page_size").fetchone()[0]


def overwrite_page(path: Path, number: int) -> None:
    size = page_size(path)
    with open(path, "r+b") as file:
        file.seek((number - 1) * size)
        file.write(b"\xff" * size)


def overwrite_whole_file(path: Path) -> bytes:
    garbage = os.urandom(path.stat().st_size)
    path.write_bytes(garbage)
    return garbage


def root_page(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                          (table,)).fetchone()[0]


def test_a_whole_file_overwritten_is_set_aside_on_open(path):
    garbage = overwrite_whole_file(path)
    opened = Ledger(path)
    try:
        assert opened.count() == 0  # a fresh, working history
        [notice] = opened.notices
        assert notice.moved_to.parent == path.parent
        assert SET_ASIDE_NAME.match(notice.moved_to.name)
        assert notice.moved_to.read_bytes() == garbage  # kept whole, not deleted
        assert (notice.conversations, notice.compare_runs) == (None, None)
        assert str(notice.moved_to) in notice.message and "set aside" in notice.message
        assert "could not be read" in notice.message
        assert notice.moved_to.name in notice.hint
        assert set_aside_files(path) == [notice.moved_to]
    finally:
        opened.close()


def test_a_page_overwritten_is_found_on_open_and_what_it_held_is_named(path):
    overwrite_page(path, root_page(path, "requests"))
    opened = Ledger(path)
    try:
        [notice] = opened.notices
        assert notice.conversations == ("Baseball", "Recipes")
        assert notice.compare_runs == ("greedy vs hot",)
        assert "2 saved conversations: “Baseball”, “Recipes”" in notice.message
        assert "1 saved Compare run: “greedy vs hot”" in notice.message
        assert opened.count() == 0
        opened.record(a_record())
        assert opened.flush(10) and opened.count() == 1
        with sqlite3.connect(notice.moved_to) as old:  # still readable where undamaged
            assert old.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 2
    finally:
        opened.close()


def test_a_sound_file_is_left_alone(path):
    before = path.read_bytes()
    opened = Ledger(path)
    try:
        assert opened.count() == 300 and opened.notices == []
    finally:
        opened.close()
    assert set_aside_files(path) == [] and path.read_bytes()[:100] == before[:100]


def test_damage_found_by_a_write_sets_the_file_aside_and_keeps_the_row(path, caplog):
    opened = Ledger(path)  # sound when opened
    try:
        overwrite_page(path, root_page(path, "requests"))
        with caplog.at_level(logging.DEBUG, logger="playground.ledger.writer"):
            opened.record(a_record())
            assert opened.flush(10)
        [notice] = opened.notices
        assert notice.conversations == ("Baseball", "Recipes")
        assert opened.count() == 1  # the row went to the fresh file
        assert notice.moved_to.exists()
        assert PROMPT not in caplog.text and REPLY not in caplog.text
        assert "set aside" in caplog.text
    finally:
        opened.close()


def test_damage_found_by_a_read_is_set_aside_and_said(path):
    opened = Ledger(path)
    try:
        overwrite_whole_file(path)
        with pytest.raises(PlaygroundError, match="set aside") as raised:
            opened.query(queries.totals)
        assert "Reload the page" in raised.value.hint
        assert len(opened.notices) == 1
        assert opened.count() == 0  # the next read finds the fresh file
    finally:
        opened.close()


def test_saved_conversations_and_runs_on_a_damaged_file_say_so_then_work(path):
    shared_ledger(path)  # the app opened it while it was sound
    overwrite_whole_file(path)
    conversations = ConversationStore(path)
    with pytest.raises(PlaygroundError, match="set aside"):
        conversations.list()
    assert conversations.list() == []
    RunStore(path).save(a_run(), "after")
    assert [run.name for run in RunStore(path).runs()] == ["after"]
    assert len(set_aside_files(path)) == 1


def test_a_refused_row_is_dropped_without_its_content_in_the_log(tmp_path, caplog):
    opened = Ledger(tmp_path / "h.sqlite3")
    try:
        with caplog.at_level(logging.DEBUG, logger="playground.ledger.writer"):
            opened.record(a_record(page=None))  # NOT NULL: the database refuses it
            opened.record(a_record())
            assert opened.flush(10)
        assert opened.count() == 1 and opened.dropped == 1
        assert "1 usage rows dropped" in caplog.text
        assert PROMPT not in caplog.text and REPLY not in caplog.text
    finally:
        opened.close()


def test_set_aside_never_overwrites_an_earlier_one(tmp_path):
    path = tmp_path / "history.sqlite3"
    moved = []
    for content in (b"first", b"second"):
        path.write_bytes(content)
        Path(f"{path}-wal").write_bytes(b"wal " + content)
        moved.append(set_aside(path, "test").moved_to)
    assert moved[0] != moved[1] and not path.exists()
    assert [p.read_bytes() for p in moved] == [b"first", b"second"]
    assert [Path(f"{p}-wal").read_bytes() for p in moved] == [b"wal first", b"wal second"]
    assert set_aside_files(path) == sorted(moved, key=lambda p: p.name)


def test_damage_is_told_from_other_failures(tmp_path):
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"not a database at all" * 200)
    with pytest.raises(sqlite3.DatabaseError) as raised:
        sqlite3.connect(bad).execute("SELECT 1 FROM sqlite_master").fetchall()
    assert is_damage(raised.value)
    assert not is_damage(sqlite3.OperationalError("database is locked"))
    assert not is_damage(sqlite3.IntegrityError("NOT NULL constraint failed: requests.page"))

"""The data folder and every file the app writes in it are its owner's only, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from playground import settings
from playground.catalog import PriceTable
from playground.connection import Connection, SavedConnections
from playground.ledger.records import UsageRecord
from playground.ledger.schema import DB_VARIABLE
from playground.ledger.writer import Ledger
from playground.presets import Preset, PresetStore
from playground.settings import create_private, data_dir, private_opener, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def permissive_umask(request):
    before = os.umask(request.param)
    yield request.param
    os.umask(before)


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """A data folder not yet used by this process."""
    chosen = tmp_path / "data"
    monkeypatch.setenv(settings.DATA_DIR_VARIABLE, str(chosen))
    monkeypatch.delenv(DB_VARIABLE, raising=False)
    return chosen


def test_a_new_data_folder_is_the_owners_only(folder, permissive_umask):
    assert data_dir() == folder
    assert mode(folder) == 0o700


def test_an_existing_folder_and_its_files_are_tightened_on_start(folder, tmp_path):
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    for name in ("history.sqlite3", "history.sqlite3-wal", "connections.json",
                 "local-server.log"):
        (folder / name).write_text("x")
        (folder / name).chmod(0o644)
    script = folder / "hook.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not ours")
    outside.chmod(0o644)
    (folder / "link").symlink_to(outside)

    data_dir()

    assert mode(folder) == 0o700
    for name in ("history.sqlite3", "history.sqlite3-wal", "connections.json",
                 "local-server.log"):
        assert mode(folder / name) == 0o600, name
    assert mode(script) == 0o700  # private, still runnable by its owner
    assert mode(outside) == 0o644  # a link is not followed out of the folder


def test_the_ledger_and_its_wal_are_created_private(folder, permissive_umask):
    opened = Ledger()
    try:
        opened.record(UsageRecord(page="Chat", connection="Local models", endpoint="chat",
                                  model="m", request={"messages": []}, response={"x": 1}))
        assert opened.flush(10)
        with opened.reading() as db:  # a reader keeps the WAL and its index open
            db.execute("SELECT COUNT(*) FROM requests").fetchone()
            files = sorted(p.name for p in folder.iterdir())
            assert {"history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm"} <= set(files)
            for name in files:
                assert mode(folder / name) == 0o600, name
    finally:
        opened.close()


def test_a_ledger_named_by_the_environment_is_private_too(tmp_path, monkeypatch,
                                                          permissive_umask):
    path = tmp_path / "new-folder" / "usage.sqlite3"
    monkeypatch.setenv(DB_VARIABLE, str(path))
    opened = Ledger()
    try:
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
    finally:
        opened.close()


def test_an_existing_world_readable_ledger_is_tightened_when_opened(tmp_path):
    path = tmp_path / "old.sqlite3"
    Ledger(path).close()
    path.chmod(0o644)
    Ledger(path).close()
    assert mode(path) == 0o600


def test_saved_connections_presets_and_prices_are_private(folder, permissive_umask):
    connections = SavedConnections()
    connections.save(Connection("Mine", base_url="http://127.0.0.1:9/v1"))
    presets = PresetStore()
    presets.save(Preset("Mine", "completions", prompt="Once", values={"temperature": 0.5}))
    prices = PriceTable()
    prices.save([{"model": "m", "input_per_million": 1, "output_per_million": 2}])
    for path in (connections.path, presets.path, prices.path):
        assert path.parent == folder
        assert mode(path) == 0o600, path.name


def test_private_opener_makes_and_tightens_files(tmp_path, permissive_umask):
    log = tmp_path / "server.log"
    with open(log, "ab", opener=private_opener) as out:  # as the local server's log is opened
        out.write(b"started\n")
    assert mode(log) == 0o600
    log.chmod(0o644)
    with open(log, "ab", opener=private_opener) as out:
        out.write(b"again\n")
    assert mode(log) == 0o600
    assert log.read_bytes() == b"started\nagain\n"


def test_write_private_and_create_private(tmp_path, permissive_umask):
    text = tmp_path / "a.json"
    write_private(text, "{}")
    assert (mode(text), text.read_text()) == (0o600, "{}")
    kept = tmp_path / "b.sqlite3"
    kept.write_bytes(b"data")
    kept.chmod(0o666)
    create_private(kept)
    assert (mode(kept), kept.read_bytes()) == (0o600, b"data")

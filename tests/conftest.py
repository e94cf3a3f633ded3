"""Shared fixtures: one real local server process for the whole test run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground.local.launcher import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def local_base_url(tmp_path_factory) -> str:
    """Base URL (``.../v1``) of a real ``python -m playground.local`` on a free port."""
    port = free_port()
    log = tmp_path_factory.mktemp("local-server") / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "playground.local", "--port", str(port)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_healthy(base_url, timeout=120, process=process)
    except Exception as exc:
        process.kill()
        raise RuntimeError(f"local server failed to start:\n{log.read_text()[-3000:]}") from exc
    yield base_url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A private data folder for history, saved connections and prices."""
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def local_env(local_base_url, monkeypatch) -> str:
    """Point the app's local connection at the shared test server."""
    monkeypatch.setenv("PLAYGROUND_LOCAL_URL", local_base_url)
    return local_base_url


def pytest_configure(config):
    os.environ.setdefault("PLAYGROUND_DATA_DIR",
                          str(Path(config.rootpath) / ".pytest_cache" / "data"))

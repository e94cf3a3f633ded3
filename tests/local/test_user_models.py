"""User GGUF files from a folder appear as models; a broken one is named, not fatal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import openai
import pytest

from playground.local.launcher import free_port, wait_healthy
from playground.local.served_models import MODELS_DIR_VARIABLE, _smollm2_path


@pytest.fixture(scope="module")
def user_models_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    shutil.copy(_smollm2_path(), folder / "My-Copy.gguf")
    (folder / "broken.gguf").write_bytes(b"GGUF but not really a model")
    port = free_port()
    env = {**os.environ, MODELS_DIR_VARIABLE: str(folder)}
    process = subprocess.Popen([sys.executable, "-m", "playground.local", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    wait_healthy(url, timeout=60, process=process)
    yield openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=60), folder
    process.terminate()
    process.wait(timeout=20)


def test_user_files_are_listed_and_served(user_models_server):
    client, _ = user_models_server
    models = {m.id: m.model_dump() for m in client.models.list()}
    assert models["my-copy"]["owned_by"] == "user"
    assert models["my-copy"]["context_length"] == 8192
    reply = client.completions.create(model="my-copy", prompt="Hello", max_tokens=3, temperature=0)
    assert reply.usage.completion_tokens >= 1


def test_a_broken_file_is_reported_by_name(user_models_server):
    client, folder = user_models_server
    models = {m.id: m.model_dump() for m in client.models.list()}
    assert "broken.gguf" in models["broken"]["error"]
    with pytest.raises(openai.InternalServerError) as caught:
        client.completions.create(model="broken", prompt="Hello", max_tokens=3)
    assert str(folder / "broken.gguf") in caught.value.body["message"]

"""The local server's model endpoints, tokenizer extension and error shapes, via the SDK."""

from __future__ import annotations

import subprocess
import sys

import httpx2
import openai
import pytest

from playground.local.__main__ import parse_args
from playground.local.launcher import free_port, wait_healthy

SMOL = "smollm2-135m-instruct"
GEMMA = "gemma-3-270m"


def test_list_models_reports_both_embedded_models_with_details(client):
    models = {m.id: m.model_dump() for m in client.models.list()}
    assert set(models) >= {SMOL, GEMMA}
    smol = models[SMOL]
    assert smol["object"] == "model" and smol["owned_by"] == "HuggingFaceTB"
    assert isinstance(smol["created"], int) and smol["created"] > 0
    assert smol["context_length"] == 8192
    assert 130_000_000 < smol["parameters"] < 140_000_000
    assert smol["quantization"] == "Q4_1"
    assert smol["license"] == "Apache-2.0"
    assert smol["endpoints"] == ["completions", "chat"]
    assert models[GEMMA]["quantization"] == "Q4_K_M"
    assert models[GEMMA]["license"].startswith("Gemma")


def test_retrieve_model_includes_gguf_metadata(client):
    gemma = client.models.retrieve(GEMMA).model_dump()
    assert gemma["id"] == GEMMA
    assert gemma["gguf"]["general.architecture"] == "gemma3"


def test_retrieve_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("no-such-model")
    assert caught.value.body["code"] == "model_not_found"


def test_completion_with_unknown_model_is_404_naming_model(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.completions.create(model="gpt-imaginary", prompt="Hi")
    assert caught.value.body["param"] == "model"
    assert "gpt-imaginary" in caught.value.body["message"]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"temperature": 5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"n": 0}, "n"),
        ({"n": 9}, "n"),
        ({"logprobs": 101}, "logprobs"),
        ({"presence_penalty": 2.5}, "presence_penalty"),
        ({"frequency_penalty": -3}, "frequency_penalty"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"logit_bias": {"12": 101}}, "logit_bias"),
        ({"logit_bias": {"not-a-token": 1}}, "logit_bias"),
        ({"logit_bias": {"99999999": 1}}, "logit_bias"),
        ({"best_of": 1, "n": 2}, "best_of"),
        ({"best_of": 3, "n": 1, "stream": True}, "best_of"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"suffix": "world"}, "suffix"),
    ],
)
def test_completion_rejects_bad_values_with_400_naming_the_param(client, params, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=SMOL, prompt="Hello", **params)
    body = caught.value.body
    assert caught.value.status_code == 400
    assert body["param"] == param
    assert body["type"] == "invalid_request_error"
    assert body["message"]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"top_logprobs": 101, "logprobs": True}, "top_logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"temperature": 2.1}, "temperature"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages"),
        ({"messages": []}, "messages"),
    ],
)
def test_chat_rejects_bad_values_with_400_naming_the_param(client, params, param):
    arguments = {"model": SMOL, "messages": [{"role": "user", "content": "Hi"}], **params}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(**arguments)
    assert caught.value.body["param"] == param


def test_prompt_longer_than_context_is_400_context_length_exceeded(client):
    huge = "word " * 9000
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=SMOL, prompt=huge, max_tokens=5)
    assert caught.value.body["code"] == "context_length_exceeded"
    assert caught.value.body["param"] == "prompt"
    assert "8192" in caught.value.body["message"]


def test_max_tokens_beyond_remaining_context_is_rejected_for_chat(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=SMOL, max_tokens=9000,
                                       messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.body["code"] == "context_length_exceeded"


def test_tokenize_counts_text_and_chat_messages(local_base_url):
    root = local_base_url.removesuffix("/v1")
    text = httpx2.post(f"{root}/tokenize", json={"model": SMOL, "text": "Hello world"}).json()
    assert text["count"] == len(text["tokens"]) == 2
    chat = httpx2.post(f"{root}/tokenize", json={
        "model": SMOL, "messages": [{"role": "user", "content": "Hello world"}]}).json()
    assert chat["count"] > text["count"]  # the template adds role markers
    assert chat["context_length"] == 8192
    missing = httpx2.post(f"{root}/tokenize", json={"model": SMOL})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "text"


def test_usage_is_counted_like_the_api(client, local_base_url):
    root = local_base_url.removesuffix("/v1")
    prompt_count = httpx2.post(f"{root}/tokenize",
                               json={"model": SMOL, "text": "Hello there"}).json()["count"]
    response = client.completions.create(model=SMOL, prompt="Hello there", max_tokens=5,
                                         n=2, temperature=0)
    assert response.usage.prompt_tokens == prompt_count
    assert response.usage.completion_tokens <= 10
    usage = response.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@pytest.fixture(scope="module")
def keyed_server():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "playground.local", "--port", str(port),
         "--api-key", "sk-local-test"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    wait_healthy(url, timeout=60, process=process)
    yield url
    process.terminate()
    process.wait(timeout=20)


def test_api_key_is_demanded_when_configured(keyed_server):
    wrong = openai.OpenAI(base_url=keyed_server, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.models.list()
    assert caught.value.body["code"] == "invalid_api_key"
    right = openai.OpenAI(base_url=keyed_server, api_key="sk-local-test", max_retries=0)
    assert SMOL in [m.id for m in right.models.list()]


def test_server_binds_to_loopback_by_default():
    assert parse_args([]).host == "127.0.0.1"
    assert parse_args(["--port", "9", "--api-key", "k"]).api_key == "k"


def test_tokenize_is_reachable_through_the_sdk_client(client):
    answer = client.post("/tokenize", cast_to=object, body={"model": SMOL, "text": "Hello world"})
    assert answer["count"] == 2

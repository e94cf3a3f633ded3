"""The local server's edges: every failure answers OpenAI-shaped JSON, as the API does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx2
import pytest

from playground.local.http_errors import MAX_BODY_BYTES
from playground.local.launcher import free_port, wait_healthy
from playground.local.schema import MAX_PROMPTS

SMOL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def root(local_base_url) -> str:
    return local_base_url.removesuffix("/v1")


def error_of(answer: httpx2.Response, status: int) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error


def post(root: str, path: str, content: bytes, **headers) -> httpx2.Response:
    return httpx2.post(root + path, content=content, timeout=60,
                       headers={"Content-Type": "application/json", **headers})


@pytest.mark.parametrize("content", [b'{"model": "\xff\xfe"}', b"\x80abc"])
def test_invalid_utf8_is_a_400_about_the_body(root, content):
    error = error_of(post(root, "/v1/completions", content), 400)
    assert error["param"] is None
    assert "JSON body" in error["message"]


def test_json_nested_100000_levels_deep_is_a_400(root):
    error = error_of(post(root, "/v1/chat/completions", b"[" * 100_000 + b"]" * 100_000), 400)
    assert error["param"] is None


def test_malformed_json_names_no_byte_offset(root):
    error = error_of(post(root, "/v1/completions", b'{"model": "x", "prompt": '), 400)
    assert error["param"] is None
    assert "JSON body" in error["message"]


def test_a_body_that_is_not_an_object_is_a_400(root):
    error = error_of(post(root, "/v1/completions", b"[1, 2]"), 400)
    assert error["param"] is None


def test_lone_surrogate_is_a_400_naming_the_field(root):
    body = json.dumps({"model": SMOL, "prompt": "a\ud800b", "max_tokens": 1}).encode()
    error = error_of(post(root, "/v1/completions", body), 400)
    assert error["param"] == "prompt"
    assert "surrogate" in error["message"]
    tokenize = json.dumps({"model": SMOL, "text": "\udfff"}).encode()
    assert error_of(post(root, "/tokenize", tokenize), 400)["param"] == "text"
    chat = json.dumps({"model": SMOL, "messages": [{"role": "user", "content": "\ud83d"}]}).encode()
    assert error_of(post(root, "/v1/chat/completions", chat), 400)["param"] == "messages"


@pytest.mark.parametrize(("field", "value"), [
    ("max_tokens", "10"), ("max_tokens", 10.0), ("max_tokens", True), ("stream", "yes"),
    ("stream", 1), ("temperature", "0.5"), ("n", "2"), ("echo", "false"), ("seed", "7"),
    ("logprobs", 1.5), ("prompt", 5), ("stop", 3), ("user", ["a"]),
])
def test_no_string_to_number_or_boolean_coercion(root, field, value):
    body = json.dumps({"model": SMOL, "prompt": "Hi", "max_tokens": 1, field: value}).encode()
    error = error_of(post(root, "/v1/completions", body), 400)
    assert error["param"] == field
    assert error["type"] == "invalid_request_error"


def test_numbers_accept_integers_as_json_numbers_do(root):
    body = {"model": SMOL, "prompt": "Hi", "max_tokens": 1, "temperature": 1, "top_p": 1,
            "presence_penalty": 0, "logit_bias": {"42": 1}}
    answer = httpx2.post(f"{root}/v1/completions", json=body, timeout=60)
    assert answer.status_code == 200, answer.text


def test_unknown_fields_and_missing_fields_name_the_field(root):
    unknown = json.dumps({"model": SMOL, "prompt": "Hi", "temprature": 1}).encode()
    error = error_of(post(root, "/v1/completions", unknown), 400)
    assert error["param"] == "temprature" and "temprature" in error["message"]
    missing = json.dumps({"model": SMOL}).encode()
    assert error_of(post(root, "/v1/chat/completions", missing), 400)["param"] == "messages"


def test_unknown_route_is_404_and_wrong_method_405(root):
    error = error_of(httpx2.get(f"{root}/v1/nothing-here"), 404)
    assert "/v1/nothing-here" in error["message"]
    wrong = httpx2.get(f"{root}/v1/chat/completions")
    error = error_of(wrong, 405)
    assert "POST" in wrong.headers["allow"] and "GET" in error["message"]


def test_too_many_prompts_is_a_400_naming_prompt(root):
    body = json.dumps({"model": SMOL, "prompt": ["Hi"] * (MAX_PROMPTS + 1)}).encode()
    error = error_of(post(root, "/v1/completions", body), 400)
    assert error["param"] == "prompt" and str(MAX_PROMPTS) in error["message"]


def test_a_body_over_the_limit_is_413_whether_its_length_is_declared_or_not(root):
    text = "a" * (MAX_BODY_BYTES + 10)
    body = json.dumps({"model": SMOL, "text": text}).encode()
    error = error_of(post(root, "/tokenize", body), 413)
    assert error["code"] == "request_too_large"

    def chunks():
        for start in range(0, len(body), 1 << 20):
            yield body[start:start + (1 << 20)]

    error = error_of(post(root, "/tokenize", chunks()), 413)
    assert error["code"] == "request_too_large"
    assert httpx2.get(f"{root}/health").status_code == 200


@pytest.fixture(scope="module")
def keyed_root():
    """A server whose key comes from the environment, as the README recommends."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "playground.local", "--port", str(port)],
                               env={**os.environ, "PLAYGROUND_LOCAL_API_KEY": "sk-local-edge"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, timeout=60, process=process)
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.mark.parametrize("header", ["Bearer sk-local-edge", "bearer sk-local-edge",
                                    "BEARER  sk-local-edge"])
def test_bearer_scheme_is_case_insensitive(keyed_root, header):
    answer = httpx2.get(f"{keyed_root}/v1/models", headers={"Authorization": header},
                        timeout=60)
    assert answer.status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "sk-local-edge"},
                                     {"Authorization": "Basic sk-local-edge"},
                                     {"Authorization": "Bearer sk-wrong"},
                                     {"Authorization": "Bearer"}])
def test_anything_but_the_bearer_key_is_401(keyed_root, headers):
    error = error_of(httpx2.get(f"{keyed_root}/v1/models", headers=headers), 401)
    assert "Bearer" in error["message"] or error["code"] == "invalid_api_key"
    assert error_of(httpx2.post(f"{keyed_root}/v1/nowhere", headers=headers), 401)


def test_health_needs_no_key(keyed_root):
    assert httpx2.get(f"{keyed_root}/health").status_code == 200

"""Whatever a client sends, the local server answers OpenAI-shaped JSON and stays up.

Arbitrary bytes, arbitrary JSON, near-valid requests with one field of the wrong type, and
arbitrary paths and methods all go to the real server (the test run's shared one); every
answer must be a 4xx with ``{"error": {"message", "type", "param", "code"}}``, a wrongly
typed field must be named as ``param``, and ``/health`` must still answer afterwards.
"""

from __future__ import annotations

import json
import string

import httpx2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

SMOL = "smollm2-135m-instruct"
ENDPOINTS = ["/v1/completions", "/v1/chat/completions", "/tokenize", "/v1/tokenize"]
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12,
)
lone_surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)  # one: no pair
wrong_for = {
    "int": st.text(max_size=5) | st.booleans() | st.floats() | st.lists(st.integers(), max_size=2),
    "number": st.text(max_size=5) | st.booleans() | st.lists(st.floats(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    "bool": st.integers() | st.text(max_size=5) | st.floats() | st.lists(st.booleans(), max_size=2),
    "text": st.integers() | st.floats() | st.booleans()
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    | st.builds(lambda a, s, b: a + s + b, st.text(max_size=3), lone_surrogates,
                st.text(max_size=3)),
}
COMPLETION_FIELDS = {
    "model": "text", "prompt": "text", "suffix": "text", "user": "text", "stop": "text",
    "max_tokens": "int", "n": "int", "seed": "int", "logprobs": "int", "best_of": "int",
    "temperature": "number", "top_p": "number", "presence_penalty": "number",
    "frequency_penalty": "number", "stream": "bool", "echo": "bool",
}
CHAT_FIELDS = {
    "model": "text", "user": "text", "max_tokens": "int", "max_completion_tokens": "int",
    "top_logprobs": "int", "temperature": "number", "stream": "bool", "logprobs": "bool",
}
BASES = {
    "/v1/completions": ({"model": SMOL, "prompt": "Hi", "max_tokens": 1}, COMPLETION_FIELDS),
    "/v1/chat/completions": ({"model": SMOL, "messages": [{"role": "user", "content": "Hi"}],
                              "max_tokens": 1}, CHAT_FIELDS),
    "/tokenize": ({"model": SMOL, "text": "Hi"}, {"model": "text", "text": "text"}),
}


@pytest.fixture(scope="module")
def root(local_base_url) -> str:
    return local_base_url.removesuffix("/v1")


@pytest.fixture(scope="module")
def http(root):
    with httpx2.Client(base_url=root, timeout=60,
                       headers={"Content-Type": "application/json"}) as session:
        yield session
    assert httpx2.get(f"{root}/health", timeout=10).status_code == 200


def openai_error(answer: httpx2.Response) -> dict:
    """The answer's error object, after checking it is a 4xx in the API's shape."""
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/json"), answer.text
    body = answer.json()
    assert list(body) == ["error"], body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str)
    assert error["param"] is None or (isinstance(error["param"], str) and error["param"]
                                      and not error["param"].isdigit())
    assert error["code"] is None or isinstance(error["code"], str)
    return error


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
    json_values.map(lambda value: json.dumps(value).encode()[:-1]),
    st.dictionaries(st.sampled_from(["model", "prompt", "messages", "text", "n", "stream"]),
                    json_values, max_size=4).map(lambda value: json.dumps(value).encode()),
)


@PROPERTY
@given(path=st.sampled_from(ENDPOINTS), body=bodies)
@example(path="/v1/completions", body=b"\xff\xfe\xfd")
@example(path="/v1/chat/completions", body=b"[" * 100_000)
@example(path="/v1/completions", body=b'{"model": "x", "prompt": "a\\ud800b"}')
def test_any_body_is_answered_with_an_openai_shaped_4xx(http, path, body):
    openai_error(http.post(path, content=body))


@st.composite
def one_field_wrongly_typed(draw) -> tuple[str, str, dict]:
    """A valid request to an endpoint with one field replaced by a value of the wrong type."""
    path = draw(st.sampled_from(sorted(BASES)))
    base, fields = BASES[path]
    field = draw(st.sampled_from(sorted(fields)))
    return path, field, {**base, field: draw(wrong_for[fields[field]])}


@PROPERTY
@given(case=one_field_wrongly_typed())
@example(case=("/v1/completions", "max_tokens",
               {**BASES["/v1/completions"][0], "max_tokens": "10"}))
@example(case=("/v1/chat/completions", "stream",
               {**BASES["/v1/chat/completions"][0], "stream": "yes"}))
@example(case=("/tokenize", "text", {"model": SMOL, "text": "a\ud800b"}))
def test_a_field_of_the_wrong_type_is_a_400_naming_it(http, case):
    path, field, body = case
    error = openai_error(http.post(path, content=json.dumps(body).encode()))
    assert error["param"] == field, error


path_segments = st.text(alphabet=string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@",
                        min_size=1, max_size=12)


@PROPERTY
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
       segments=st.lists(path_segments, min_size=1, max_size=4),
       under_v1=st.booleans())
@example(method="DELETE", segments=["chat", "completions"], under_v1=True)
@example(method="GET", segments=["completions"], under_v1=True)
def test_any_path_and_method_is_answered_with_an_openai_shaped_4xx(http, method, segments,
                                                                     under_v1):
    path = ("/v1/" if under_v1 else "/") + "/".join(segments)
    answer = http.request(method, path)
    if answer.status_code == 200:  # one of the few routes that exist without a body
        assert method == "GET" and path.rstrip("/") in {"/health", "/v1/models"} | {
            f"/v1/models/{name}" for name in http.get("/health").json()["models"]}
        return
    openai_error(answer)


def test_the_server_is_still_up(http):
    assert http.get("/health").json()["status"] == "ok"

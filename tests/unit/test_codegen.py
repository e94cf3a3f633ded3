"""View code: the Python and curl snippets reproduce the request, against the real local server."""

from __future__ import annotations

import ast
import json
import keyword
import os
import re
import shutil
import subprocess
import sys

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playground.codegen import curl_snippet, python_snippet, snippets_for
from playground.connection import Connection
from playground.runner import build_request

BASE = "gemma-3-270m"
CHAT = "smollm2-135m-instruct"
KEY = "sk-proj-TESTKEY-0123456789abcdefABCDEF"

TRICKY = [
    'He said "hi" and \'bye\'',
    "it's",
    "back\\slash \\n not a newline \\",
    "line one\nline two\n\n  indented\ttab\n",
    "ünïcödé 日本語 😀",
    "echo $HOME `id` $(ls) ${PATH} !! \\$",
    "'; rm -rf / #\nJSON\nEOF\n",
    "\u2028 separator \x7f delete \x00 nul",
]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(extra)
    return env


def run_python(snippet: str, tmp_path) -> str:
    script = tmp_path / "snippet.py"
    script.write_text(snippet, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          encoding="utf-8", env=_env(OPENAI_API_KEY=KEY), timeout=180)
    assert done.returncode == 0, done.stderr
    return done.stdout


def run_curl(snippet: str, tmp_path) -> tuple[int, str]:
    """Run the snippet as written, with ``curl`` wrapped to also print the status code."""
    script = tmp_path / "snippet.sh"
    script.write_text("curl() { command curl -w '\\nHTTP %{http_code}' \"$@\"; }\n" + snippet,
                      encoding="utf-8")
    done = subprocess.run(["sh", str(script)], capture_output=True, text=True,
                          encoding="utf-8", env=_env(OPENAI_API_KEY=KEY), timeout=180)
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition("\nHTTP ")
    return int(status), body


def printed_directly(client: openai.OpenAI, endpoint: str, request: dict) -> str:
    """What the snippet should print: the same request sent through the SDK here."""
    create = (client.completions.create if endpoint == "completions"
              else client.chat.completions.create)
    answer = create(**request)
    texts: dict[int, str] = {}
    if request.get("stream"):
        for chunk in answer:
            for choice in chunk.choices:
                piece = choice.text if endpoint == "completions" else choice.delta.content
                texts[choice.index] = texts.get(choice.index, "") + (piece or "")
    else:
        for choice in answer.choices:
            texts[choice.index] = (choice.text if endpoint == "completions"
                                   else choice.message.content)
    if len(texts) == 1 and (request.get("n") or 1) == 1:
        return texts[0] + "\n"
    return "".join(f"--- choice {i} ---\n{text}\n" for i, text in sorted(texts.items()))


@pytest.fixture(scope="module")
def client(local_base_url) -> openai.OpenAI:
    return openai.OpenAI(base_url=local_base_url, api_key="unused", max_retries=0, timeout=120)


def _call_keywords(snippet: str) -> dict[str, ast.expr]:
    tree = ast.parse(snippet)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr == "create"]
    assert len(calls) == 1
    return {kw.arg: kw.value for kw in calls[0].keywords}


def python_request(snippet: str) -> dict:
    """The keyword arguments the snippet passes to ``create``, evaluated as literals."""
    return {name: ast.literal_eval(value) for name, value in _call_keywords(snippet).items()}


def curl_body(snippet: str) -> dict:
    match = re.search(r"<<'(\w+)'\n(.*)\n\1\n\Z", snippet, re.S)
    assert match, snippet
    return json.loads(match.group(2))


# Running the snippets -----------------------------------------------------------------------

REQUESTS = [
    pytest.param("completions", build_request("completions", BASE, {
        "temperature": 0, "max_tokens": 12, "stop": ["\n\n"]}, prompt="The capital of France is"),
        id="completions-greedy"),
    pytest.param("completions", build_request("completions", BASE, {
        "temperature": 0.9, "seed": 11, "max_tokens": 10, "stream": True},
        prompt="Once upon a time"), id="completions-stream-seeded"),
    pytest.param("chat", build_request("chat", CHAT, {
        "temperature": 1.0, "n": 3, "seed": 7, "max_tokens": 6},
        messages=[{"role": "user", "content": "Name a colour."}]), id="chat-n3-seeded"),
    pytest.param("chat", build_request("chat", CHAT, {
        "temperature": 0, "max_tokens": 10, "n": 2, "stream": True},
        messages=[{"role": "system", "content": "Answer in one word."},
                  {"role": "user", "content": "Say \"yes\" or 'no'."}]), id="chat-stream-n2"),
]


@pytest.mark.parametrize("endpoint, request_", REQUESTS)
def test_python_snippet_prints_what_the_request_gives(endpoint, request_, local_base_url,
                                                      client, tmp_path):
    snippet = python_snippet(endpoint, request_, local_base_url)
    assert run_python(snippet, tmp_path) == printed_directly(client, endpoint, request_)


def test_python_snippet_sends_tricky_prompts_unchanged(local_base_url, client, tmp_path):
    """With echo on, the completion starts with the prompt exactly as the server read it."""
    prompt = "\n".join(TRICKY)
    request = build_request("completions", BASE, {"echo": True, "max_tokens": 1,
                                                  "temperature": 0}, prompt=prompt)
    printed = run_python(python_snippet("completions", request, local_base_url), tmp_path)
    assert printed.startswith(prompt)
    assert printed == printed_directly(client, "completions", request)


def test_python_snippet_sends_tricky_chat_messages(local_base_url, client, tmp_path):
    messages = [{"role": "system", "content": TRICKY[0]},
                {"role": "user", "content": "\n".join(TRICKY[1:])}]
    request = build_request("chat", CHAT, {"temperature": 0, "max_tokens": 4}, messages=messages)
    snippet = python_snippet("chat", request, local_base_url)
    assert python_request(snippet)["messages"] == messages
    assert run_python(snippet, tmp_path) == printed_directly(client, "chat", request)


needs_curl = pytest.mark.skipif(shutil.which("curl") is None or shutil.which("sh") is None,
                                reason="curl (and a POSIX sh) is not installed on this machine")


@needs_curl
def test_curl_snippet_gets_200_json_with_the_same_text(local_base_url, client, tmp_path):
    request = build_request("completions", BASE, {"temperature": 0, "max_tokens": 12},
                            prompt="The capital of France is")
    status, body = run_curl(curl_snippet("completions", request, local_base_url), tmp_path)
    assert status == 200
    answer = json.loads(body)
    assert answer["choices"][0]["text"] == printed_directly(client, "completions", request)[:-1]


@needs_curl
def test_curl_snippet_sends_tricky_prompts_unchanged(local_base_url, tmp_path):
    prompt = "\n".join(TRICKY)
    request = build_request("completions", BASE, {"echo": True, "max_tokens": 1,
                                                  "temperature": 0}, prompt=prompt)
    status, body = run_curl(curl_snippet("completions", request, local_base_url), tmp_path)
    assert status == 200
    assert json.loads(body)["choices"][0]["text"].startswith(prompt)


@needs_curl
def test_curl_snippet_chat_and_stream(local_base_url, tmp_path):
    messages = [{"role": "user", "content": "\n".join(TRICKY)}]
    request = build_request("chat", CHAT, {"max_tokens": 4, "stream": True, "seed": 1},
                            messages=messages)
    snippet = curl_snippet("chat", request, local_base_url)
    assert " -N " in snippet
    status, body = run_curl(snippet, tmp_path)
    assert status == 200
    events = [line.removeprefix("data: ") for line in body.splitlines()
              if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert chunks[-1]["usage"]["prompt_tokens"] > 0


# The key ---------------------------------------------------------------------------------------

def test_the_key_never_appears(local_base_url):
    conn = Connection("Gateway", kind="openai", base_url=local_base_url, api_key=KEY)
    request = build_request("completions", BASE, {"temperature": 0}, prompt="Hello")
    snippets = snippets_for(conn, "completions", request)
    for text in (snippets.python, snippets.curl):
        assert KEY not in text
        assert KEY[-8:] not in text
    assert 'api_key=os.environ["OPENAI_API_KEY"]' in snippets.python
    assert 'Authorization: Bearer $OPENAI_API_KEY"' in snippets.curl


def test_a_custom_endpoint_with_a_key_requires_one_in_the_snippet():
    conn = Connection("Gateway", base_url="https://gw.example/v1", api_key=KEY)
    snippets = snippets_for(conn, "chat", {"model": "m", "messages": []})
    assert 'api_key=os.environ["OPENAI_API_KEY"],' in snippets.python
    assert '"Authorization: Bearer $OPENAI_API_KEY"' in snippets.curl
    keyless = snippets_for(Connection("Ollama", base_url="http://localhost:11434/v1"), "chat",
                           {"model": "m", "messages": []})
    assert 'os.environ.get("OPENAI_API_KEY", "no-key"),  # keyless servers accept any key' \
        in keyless.python


def test_a_key_typed_into_the_prompt_is_blanked_out():
    conn = Connection("OpenAI", kind="openai", base_url="https://api.openai.com/v1", api_key=KEY)
    request = build_request("chat", "gpt-4o-mini", {}, messages=[
        {"role": "user", "content": f"my key is {KEY}"}])
    snippets = snippets_for(conn, "chat", request)
    assert KEY not in snippets.python and KEY not in snippets.curl
    assert "<redacted key>" in snippets.python


def test_local_connection_uses_the_running_servers_url(local_env):
    snippets = snippets_for(Connection("Local models", kind="local"), "chat",
                            {"model": CHAT, "messages": [{"role": "user", "content": "Hi"}]})
    assert f'base_url="{local_env}"' in snippets.python
    assert 'os.environ.get("OPENAI_API_KEY", "no-key")' in snippets.python
    assert "${OPENAI_API_KEY:-no-key}" in snippets.curl


# Shape of the snippets ------------------------------------------------------------------------

def test_openai_default_base_url_is_left_out_and_the_key_is_required():
    request = {"model": "gpt-4o-mini", "prompt": "Hi"}
    for base_url in (None, "https://api.openai.com/v1", "https://api.openai.com/v1/"):
        snippet = python_snippet("completions", request, base_url)
        assert "base_url" not in snippet
        assert 'api_key=os.environ["OPENAI_API_KEY"],' in snippet
        curl = curl_snippet("completions", request, base_url)
        assert curl.startswith("curl -sS https://api.openai.com/v1/completions \\\n")
        assert '"Authorization: Bearer $OPENAI_API_KEY"' in curl


def test_keyless_endpoint_gets_a_placeholder_key():
    snippet = python_snippet("chat", {"model": "m", "messages": []}, "http://localhost:11434/v1")
    assert 'base_url="http://localhost:11434/v1",' in snippet
    assert 'api_key=os.environ.get("OPENAI_API_KEY", "no-key"),' in snippet
    forced = python_snippet("chat", {"model": "m", "messages": []}, "http://gw.example/v1",
                            key_required=True)
    assert 'api_key=os.environ["OPENAI_API_KEY"],' in forced


def test_literals_are_python_in_python_and_json_in_curl():
    request = {"model": "m", "prompt": "Hi", "echo": True, "stream": False, "logprobs": 0,
               "temperature": 0.7, "stop": ["\n", "END"], "logit_bias": {"50256": -100},
               "user": None}
    python = python_snippet("completions", request, None)
    assert "echo=True," in python and "stream=False," in python and "user=None," in python
    assert python_request(python) == request
    curl = curl_snippet("completions", request, None)
    assert '"echo": true' in curl and '"stream": false' in curl and '"user": null' in curl
    assert curl_body(curl) == request


def test_unknown_endpoint_is_refused():
    with pytest.raises(ValueError, match="Unknown endpoint 'images'"):
        python_snippet("images", {}, None)


def test_streaming_snippet_prints_the_stream():
    snippet = python_snippet("chat", {"model": "m", "messages": [], "stream": True}, None)
    assert "for chunk in stream:" in snippet
    assert 'print(choice.delta.content or "", end="", flush=True)' in snippet


# Properties -----------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(prompt=st.text())
def test_any_prompt_round_trips_through_both_snippets(prompt):
    request = {"model": BASE, "prompt": prompt, "temperature": 0}
    python = python_snippet("completions", request, "http://127.0.0.1:9/v1")
    python.encode("utf-8")  # the file can be written
    assert ast.literal_eval(_call_keywords(python)["prompt"]) == prompt
    curl = curl_snippet("completions", request, "http://127.0.0.1:9/v1")
    curl.encode("utf-8")
    assert curl_body(curl)["prompt"] == prompt


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(values=st.dictionaries(
    st.from_regex(r"[a-z_]{1,12}", fullmatch=True).filter(lambda name: not keyword.iskeyword(name)),
    json_values, max_size=6))
def test_any_json_value_survives_as_a_literal(values):
    request = {"model": "m", "messages": [{"role": "user", "content": "x"}], **values}
    assert python_request(python_snippet("chat", request, None)) == request
    assert curl_body(curl_snippet("chat", request, None)) == request

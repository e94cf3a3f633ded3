"""Work nobody waits for stops: a client that goes away frees the model at once.

Each test starts a long generation (3,000 tokens with the end of text biased away: over a
minute on two idle cores, far more on busy ones), lets its client go after about a second,
then times a 3-token request. Without cancellation that request would wait for the whole
long generation; with it, for the token (or prompt batch) in progress. The bound is
generous because a loaded two-core machine can stall a single llama.cpp evaluation for
seconds.
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import openai
import pytest

SMOL = "smollm2-135m-instruct"
NO_END = {"0": -100, "2": -100, "4": -100}  # the end-of-generation tokens: never ending early
LONG_COMPLETION = {"model": SMOL, "prompt": "Once upon a time", "max_tokens": 3000,
                   "logit_bias": NO_END, "seed": 1}
LONG_CHAT = {"model": SMOL, "messages": [{"role": "user", "content": "Tell a long story."}],
             "max_tokens": 3000, "logit_bias": NO_END, "seed": 1}
NEXT_REQUEST_SECONDS = 5.0


@pytest.fixture
def server(local_base_url, client):
    """The server's address, with the default model loaded and idle."""
    client.completions.create(model=SMOL, prompt="Hi", max_tokens=1)
    parts = urlsplit(local_base_url)
    return parts.hostname, parts.port


def start(server, path: str, body: dict) -> socket.socket:
    """Send a request on a raw connection and leave its answer unread."""
    data = json.dumps(body).encode()
    connection = socket.create_connection(server, timeout=30)
    connection.sendall(f"POST {path} HTTP/1.1\r\nHost: {server[0]}\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
                       .encode() + data)
    return connection


def nothing_arrived(connection: socket.socket) -> bool:
    connection.setblocking(False)
    try:
        return not connection.recv(1)
    except BlockingIOError:
        return True


def seconds_for_next_request(client) -> float:
    began = time.monotonic()
    answer = client.completions.create(model=SMOL, prompt="Hi", max_tokens=3)
    assert answer.usage.completion_tokens >= 1
    return time.monotonic() - began


def times_out_waiting(local_base_url) -> None:
    """A long request that gives up after half a second, as a client with a short timeout."""
    impatient = openai.OpenAI(base_url=local_base_url, api_key="unused", max_retries=0,
                              timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        impatient.completions.create(**LONG_COMPLETION)


@pytest.mark.parametrize(("path", "body"), [("/v1/completions", LONG_COMPLETION),
                                            ("/v1/chat/completions", LONG_CHAT)])
def test_hanging_up_on_a_request_frees_the_model_and_drops_requests_left_waiting(
        server, client, local_base_url, path, body):
    long_request = start(server, path, body)
    time.sleep(1.0)
    times_out_waiting(local_base_url)  # the model is busy; this one is abandoned in the queue
    assert nothing_arrived(long_request), (
        "the long request ended by itself: the test proves nothing")
    long_request.close()
    assert seconds_for_next_request(client) < NEXT_REQUEST_SECONDS


@pytest.mark.parametrize(("path", "body"), [("/v1/completions", LONG_COMPLETION),
                                            ("/v1/chat/completions", LONG_CHAT)])
def test_hanging_up_on_a_stream_frees_the_model(server, client, path, body):
    stream = start(server, path, {**body, "stream": True})
    received = b""
    while received.count(b"data: ") < 5:
        received += stream.recv(4096)
    assert b"finish_reason\": \"length" not in received
    stream.close()
    assert seconds_for_next_request(client) < NEXT_REQUEST_SECONDS


def test_sdk_retries_after_timeouts_do_not_pile_up(server, client, local_base_url):
    retrying = openai.OpenAI(base_url=local_base_url, api_key="unused", max_retries=2, timeout=1.0)
    began = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        retrying.completions.create(**LONG_COMPLETION)
    assert time.monotonic() - began > 3  # three attempts, each given up after a second
    assert seconds_for_next_request(client) < NEXT_REQUEST_SECONDS


def test_chat_without_max_tokens_is_capped(local_base_url):
    patient = openai.OpenAI(base_url=local_base_url, api_key="unused", max_retries=0, timeout=280)
    answer = patient.chat.completions.create(
        model=SMOL, messages=[{"role": "user", "content": "Count to a million."}],
        logit_bias=NO_END, seed=2)
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage.completion_tokens == 1024

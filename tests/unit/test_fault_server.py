"""Every behaviour of the fault server, seen through the real ``openai`` SDK."""

from __future__ import annotations

import concurrent.futures
import json
import time

import openai
import pytest

from fault_server import FaultServer

MESSAGES = [{"role": "user", "content": "Say something short"}]


@pytest.fixture(scope="module")
def server():
    fault_server = FaultServer(hang_seconds=2.0)
    with fault_server:
        yield fault_server


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, timeout=5)


def chat(client, fault: str | None = None, **kwargs):
    headers = {"X-Fault": fault} if fault else None
    return client.chat.completions.create(model=kwargs.pop("model", "fault-model"),
                                          messages=MESSAGES, extra_headers=headers, **kwargs)


class TestWireFormat:
    def test_context_manager_yields_a_loopback_base_url(self):
        with FaultServer() as url:
            assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
            port = int(url.split(":")[2].split("/")[0])
            assert port > 0

    def test_models_list_and_retrieve(self, client):
        assert [m.id for m in client.models.list()] == ["fault-model", "fault-model-b"]
        assert client.models.retrieve("fault-model-b").owned_by == "fault-server"
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("nope")

    def test_chat_with_n_max_tokens_usage_and_logprobs(self, client):
        response = chat(client, n=2, max_tokens=4, logprobs=True)
        assert [c.message.content for c in response.choices] == ["The quick brown fox"] * 2
        assert {c.finish_reason for c in response.choices} == {"length"}
        assert response.usage.completion_tokens == 8
        assert response.usage.prompt_tokens == len(MESSAGES[0]["content"].split())
        logprobs = [t.logprob for t in response.choices[0].logprobs.content]
        assert logprobs == [-0.1, -0.2, -0.3, -0.4]

    def test_completions_without_a_limit_finish_with_stop(self, client):
        response = client.completions.create(model="fault-model", prompt="Once", logprobs=0)
        choice = response.choices[0]
        assert choice.text == FaultServer().reply and choice.finish_reason == "stop"
        assert len(choice.logprobs.token_logprobs) == len(choice.text.split())

    def test_chat_stream_with_usage(self, client):
        stream = chat(client, stream=True, max_tokens=3,
                      stream_options={"include_usage": True})
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "The quick brown"
        assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3

    def test_completions_stream(self, client):
        stream = client.completions.create(model="fault-model", prompt="Hi", stream=True,
                                           max_tokens=2)
        chunks = list(stream)
        assert "".join(c.choices[0].text for c in chunks) == "The quick"
        assert chunks[-1].choices[0].finish_reason == "length"
        assert all(c.usage is None for c in chunks), "no usage chunk unless asked for"

    def test_reply_can_depend_on_the_request(self):
        def reply(body, index):
            return f"{body['model']} choice {index} t={body.get('temperature')}"

        with FaultServer(reply=reply) as url:
            sdk = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
            response = sdk.chat.completions.create(model="fault-model", messages=MESSAGES,
                                                   n=2, temperature=0.5)
        assert [c.message.content for c in response.choices] == [
            "fault-model choice 0 t=0.5", "fault-model choice 1 t=0.5"]

    def test_ignore_n_answers_one_choice(self):
        with FaultServer(ignore_n=True) as url:
            sdk = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
            assert len(chat(sdk, n=3).choices) == 1

    def test_requests_are_counted_and_recorded(self):
        server = FaultServer()
        with server as url:
            sdk = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
            chat(sdk)
            chat(sdk, temperature=0.25)
            list(sdk.models.list())
            assert server.request_count == 3
            assert server.count("/chat/completions") == 2
            assert server.requests[1].body["temperature"] == 0.25
            assert server.requests[0].model == "fault-model"
            server.reset()
            assert server.request_count == 0


class TestLatency:
    def test_fixed_latency_per_request(self):
        with FaultServer(latency=0.3) as url:
            sdk = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
            started = time.perf_counter()
            chat(sdk)
            assert time.perf_counter() - started >= 0.3

    def test_concurrent_requests_wait_in_parallel(self):
        with FaultServer(latency=0.3) as url:
            sdk = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda _: chat(sdk), range(8)))
            assert time.perf_counter() - started < 4 * 0.3

    def test_latency_per_request_header(self, client):
        started = time.perf_counter()
        client.chat.completions.create(model="fault-model", messages=MESSAGES,
                                       extra_headers={"X-Latency": "0.2"})
        assert time.perf_counter() - started >= 0.2

    def test_stop_wakes_a_waiting_request(self):
        server = FaultServer(latency=30)
        url = server.start()
        sdk = openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=10)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            future = pool.submit(chat, sdk)
            time.sleep(0.2)
            started = time.perf_counter()
            server.stop()
            with pytest.raises(openai.APIConnectionError):
                future.result()
        assert time.perf_counter() - started < 5


class TestStatusFaults:
    def test_401(self, client):
        with pytest.raises(openai.AuthenticationError) as raised:
            chat(client, "401")
        assert raised.value.status_code == 401 and raised.value.code == "invalid_api_key"

    def test_403(self, client):
        with pytest.raises(openai.PermissionDeniedError):
            chat(client, "403")

    def test_404_for_a_model_the_server_does_not_serve(self, client):
        with pytest.raises(openai.NotFoundError) as raised:
            chat(client, model="no-such-model")
        assert raised.value.code == "model_not_found" and raised.value.param == "model"
        assert "no-such-model" in raised.value.message

    def test_400_names_the_param(self, client):
        with pytest.raises(openai.BadRequestError) as raised:
            chat(client, "400")
        assert raised.value.param == "temperature" and raised.value.code == "invalid_value"

    def test_413(self, client):
        with pytest.raises(openai.APIStatusError) as raised:
            chat(client, "413")
        assert raised.value.status_code == 413

    def test_context_too_long(self, client):
        with pytest.raises(openai.BadRequestError) as raised:
            chat(client, "context")
        assert raised.value.code == "context_length_exceeded"

    def test_429_without_retry_after(self, client):
        with pytest.raises(openai.RateLimitError) as raised:
            chat(client, "429")
        assert "retry-after" not in raised.value.response.headers

    def test_429_with_retry_after(self, client):
        with pytest.raises(openai.RateLimitError) as raised:
            chat(client, "429-retry-after")
        assert raised.value.response.headers["retry-after"] == "0.1"

    @pytest.mark.parametrize("fault, status", [("500", 500), ("502", 502), ("503", 503)])
    def test_server_errors(self, client, fault, status):
        with pytest.raises(openai.InternalServerError) as raised:
            chat(client, fault)
        assert raised.value.status_code == status
        if fault == "502":
            assert raised.value.response.headers["content-type"] == "text/html"

    def test_faults_by_model(self):
        with FaultServer(faults_by_model={"fault-model-b": "503"}) as url:
            sdk = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
            assert chat(sdk).choices[0].message.content
            with pytest.raises(openai.InternalServerError):
                chat(sdk, model="fault-model-b")

    def test_unknown_behaviour_is_refused(self):
        with pytest.raises(ValueError, match="unknown behaviour"):
            FaultServer(fault="teapot")


class TestFailFirst:
    def test_sdk_retries_a_429_with_retry_after_and_succeeds(self):
        server = FaultServer(fail_first=2, fail_with="429-retry-after", retry_after=0.05)
        with server as url:
            sdk = openai.OpenAI(base_url=url, api_key="x", max_retries=2)
            started = time.perf_counter()
            response = chat(sdk)
            elapsed = time.perf_counter() - started
        assert response.choices[0].message.content
        assert server.request_count == 3
        assert [r.behaviour for r in server.requests] == ["429-retry-after"] * 2 + ["ok"]
        assert elapsed < 1.0, "Retry-After 0.05 s is honoured instead of the 0.5 s+ backoff"

    def test_429_without_retry_after_fails_when_retries_run_out(self):
        server = FaultServer(fail_first=2, fail_with="429")
        with server as url:
            sdk = openai.OpenAI(base_url=url, api_key="x", max_retries=1)
            with pytest.raises(openai.RateLimitError):
                chat(sdk)
            assert server.request_count == 2
            assert chat(sdk).choices, "the third request succeeds"

    def test_header_overrides_fail_first(self):
        server = FaultServer(fail_first=5, fail_with="503")
        with server as url:
            sdk = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
            assert chat(sdk, "ok").choices


class TestBrokenBodies:
    def test_a_body_that_is_not_json(self, client):
        with pytest.raises((ValueError, openai.APIError)):
            chat(client, "not-json")

    def test_a_stream_whose_body_is_not_events_yields_nothing(self, client):
        assert list(chat(client, "not-json", stream=True)) == []

    def test_a_stream_cut_midway(self, client):
        received = []
        with pytest.raises(openai.APIConnectionError):
            for chunk in chat(client, "cut", stream=True):
                received.append(chunk.choices[0].delta.content if chunk.choices else None)
        assert received and "".join(filter(None, received)) != FaultServer().reply

    def test_a_body_cut_midway(self, client):
        with pytest.raises(openai.APIConnectionError):
            chat(client, "cut")

    @pytest.mark.parametrize("fault", ["cut-quiet", "cut-mid-event"])
    def test_a_stream_cut_where_http_cannot_tell_ends_quietly(self, client, fault):
        chunks = list(chat(client, fault, stream=True, stream_options={"include_usage": True}))
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert text and FaultServer().reply.startswith(text) and text != FaultServer().reply
        assert all(c.choices and c.choices[0].finish_reason is None for c in chunks)
        assert all(c.usage is None for c in chunks), "no usage chunk, though asked for"

    def test_a_torn_event_is_dropped_by_the_sdk(self, client):
        whole = list(chat(client, "cut-quiet", stream=True))
        torn = list(chat(client, "cut-mid-event", stream=True))
        assert [c.choices[0].delta.content for c in torn] == [
            c.choices[0].delta.content for c in whole]

    def test_a_cut_between_events_leaves_every_choice_unfinished(self, client):
        chunks = list(client.completions.create(model="fault-model", prompt="Once", n=2,
                                                stream=True,
                                                extra_headers={"X-Fault": "cut-quiet"}))
        assert chunks and not any(c.choices[0].finish_reason for c in chunks)

    @pytest.mark.parametrize("fault", ["cut-quiet", "cut-mid-event"])
    def test_a_body_cut_where_http_cannot_tell(self, client, fault):
        with pytest.raises((ValueError, openai.APIError)):
            chat(client, fault)

    def test_a_hanging_stream_times_out(self, server):
        sdk = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=0.5)
        received = []
        started = time.perf_counter()
        with pytest.raises(openai.APITimeoutError):
            for chunk in chat(sdk, "hang", stream=True):
                received.append(chunk)
        assert received, "chunks before the hang arrive"
        assert time.perf_counter() - started < server.hang_seconds

    def test_a_hanging_response_times_out(self, server):
        sdk = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=0.5)
        with pytest.raises(openai.APITimeoutError):
            chat(sdk, "hang")

    def test_a_hang_is_bounded(self):
        with FaultServer(hang_seconds=0.3) as url:
            sdk = openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=30)
            started = time.perf_counter()
            with pytest.raises(openai.APIConnectionError):
                list(chat(sdk, "hang", stream=True))
            assert time.perf_counter() - started < 3


def test_request_body_reaches_the_record(client, server):
    before = server.request_count
    chat(client, seed=7, temperature=0)
    record = server.requests[before]
    assert record.path == "/v1/chat/completions"
    assert json.loads(json.dumps(record.body))["seed"] == 7

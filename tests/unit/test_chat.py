"""The chat core: editing a conversation, its token budget, replies, streaming stops, exports."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fault_server import FaultServer
from playground import chat, runner
from playground.chat import Conversation, EstimatedCounter, Message, ServerCounter
from playground.connection import Connection
from playground.errors import ContextTooLong

SMOL = "smollm2-135m-instruct"


def conversation(*turns: tuple[str, str], system: str = "") -> Conversation:
    return Conversation(system=system, messages=[Message(role, text) for role, text in turns])


@pytest.fixture(scope="module")
def fault_server():
    server = FaultServer()
    with server:
        yield server


def fault_connection(server) -> Connection:
    return Connection("Fault", base_url=server.base_url, api_key="sk-test", max_retries=0)


class TestEditing:
    def test_insert_by_hand_at_the_end_or_after_a_message(self):
        talk = conversation(("user", "Q1"), ("user", "Q2"))
        talk.add("assistant", "A2")
        talk.add("assistant", "A1", after=talk.messages[0].id)
        assert [m.content for m in talk.messages] == ["Q1", "A1", "Q2", "A2"]

    def test_edit_text_and_role(self):
        talk = conversation(("user", "Hello"))
        message = talk.messages[0]
        message.tokens, message.tokens_exact, message.logprobs = 2, True, [{"token": "x"}]
        talk.edit(message.id, content="Hello there", role="assistant")
        assert (message.role, message.content, message.edited) == ("assistant", "Hello there", True)
        assert (message.tokens, message.logprobs) == (None, None)  # counted again, no stale view

    def test_a_role_change_alone_keeps_the_counts(self):
        talk = conversation(("user", "Hello"))
        talk.messages[0].tokens = 2
        talk.edit(talk.messages[0].id, role="system", content="Hello")
        assert talk.messages[0].tokens == 2 and not talk.messages[0].edited

    @pytest.mark.parametrize("role", ["robot", "", "User"])
    def test_unknown_roles_are_refused(self, role):
        talk = conversation(("user", "Hello"))
        with pytest.raises(ValueError):
            talk.edit(talk.messages[0].id, role=role)
        with pytest.raises(ValueError):
            talk.add(role, "x")
        assert talk.messages[0].role == "user"

    def test_delete(self):
        talk = conversation(("user", "Q"), ("assistant", "A"))
        talk.delete(talk.messages[0].id)
        assert [m.content for m in talk.messages] == ["A"]
        with pytest.raises(KeyError):
            talk.delete("missing")

    def test_regenerating_takes_the_last_reply_and_pending_choices(self):
        talk = conversation(("user", "Q"), ("assistant", "A"))
        talk.choices = [Message("assistant", "c1"), Message("assistant", "c2")]
        assert talk.take_last_reply().content == "A"
        assert [m.content for m in talk.messages] == ["Q"] and talk.choices == []
        assert talk.take_last_reply() is None  # a user message last: nothing to take
        assert [m.content for m in talk.messages] == ["Q"]

    def test_branch_keeps_the_transcript_up_to_the_message_and_leaves_the_original(self):
        talk = conversation(("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), system="Be brief.")
        talk.title = "Quiz"
        branch = talk.branch(talk.messages[1].id)
        assert [m.content for m in branch.messages] == ["Q1", "A1"]
        assert (branch.system, branch.branched_from, branch.title) == (
            "Be brief.", talk.id, "Quiz (branch)")
        assert branch.id != talk.id
        branch.edit(branch.messages[0].id, content="changed")
        assert talk.messages[0].content == "Q1" and len(talk.messages) == 3

    def test_one_reply_continues_several_wait_to_be_picked(self):
        talk = conversation(("user", "Q"))
        talk.offer([Message("assistant", "only")])
        assert talk.messages[-1].content == "only"
        talk.offer([Message("assistant", "a"), Message("assistant", "b")])
        assert [m.content for m in talk.choices] == ["a", "b"]
        talk.pick(1)
        assert talk.messages[-1].content == "b" and talk.choices == []

    def test_titles(self):
        assert Conversation().display_title == "New conversation"
        long = conversation(("assistant", "hi"), ("user", "  What   is " + "very " * 30))
        assert long.display_title.startswith("What is very")
        assert len(long.display_title) == chat.TITLE_CHARS
        long.title = "  Mine "
        assert long.display_title == "Mine"

    def test_api_messages_send_the_system_text_only_when_there_is_one(self):
        talk = conversation(("user", "Q"), ("assistant", "A"))
        assert talk.api_messages() == [{"role": "user", "content": "Q"},
                                       {"role": "assistant", "content": "A"}]
        talk.system = "Be brief."
        assert talk.api_messages(leave_out=[talk.messages[0].id]) == [
            {"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "A"}]


texts = st.text(max_size=40)
messages = st.builds(Message, role=st.sampled_from(chat.ROLES), content=texts,
                     tokens=st.none() | st.integers(0, 10**6), incomplete=st.booleans(),
                     latency=st.none() | st.floats(0, 100), error=st.none() | texts)


class TestStoring:
    @given(system=texts, title=texts, transcript=st.lists(messages, max_size=6),
           choices=st.lists(messages, max_size=3))
    @settings(max_examples=60, deadline=None)
    def test_round_trip(self, system, title, transcript, choices):
        talk = Conversation(title=title, system=system, messages=transcript, choices=choices,
                            model="m", branched_from="x")
        again = Conversation.from_dict(json.loads(json.dumps(talk.to_dict())))
        assert again == talk

    @pytest.mark.parametrize("data", [
        None, [], {"messages": []}, {"id": "x", "messages": [{"role": "robot", "content": "x"}]},
        {"id": "x", "messages": [{"role": "user", "content": 3}]},
        {"id": "x", "format": chat.FORMAT_VERSION + 1},
    ])
    def test_what_is_not_a_conversation_is_refused(self, data):
        with pytest.raises(ValueError):
            Conversation.from_dict(data)

    def test_fields_of_the_wrong_type_are_dropped_not_trusted(self):
        data = {"role": "assistant", "content": "Hi", "tokens": "12", "latency": True,
                "dropped": "abc", "logprobs": {"x": 1}, "prompt_tokens": 7, "unknown": 1}
        message = Message.from_dict(data)
        assert (message.tokens, message.latency, message.dropped, message.logprobs) == (
            None, None, [], None)
        assert message.prompt_tokens == 7
        assert set(chat._FIELD_TYPES) == {f.name for f in dataclasses.fields(Message)}


class TestBudget:
    counter = EstimatedCounter()

    def test_estimates_are_four_characters_a_token_plus_framing(self):
        assert self.counter.count_text("abcdefgh") == chat.TokenCount(2, False)
        assert self.counter.count_messages([{"role": "user", "content": "abcd"}]).tokens == (
            chat.TOKENS_PER_MESSAGE + 1 + chat.TOKENS_PER_REPLY)
        assert str(chat.TokenCount(1234, False)) == "~1,234"
        assert str(chat.TokenCount(1234, True)) == "1,234"

    def test_turns_start_at_each_user_message(self):
        talk = conversation(("assistant", "few-shot"), ("user", "Q1"), ("assistant", "A1"),
                            ("system", "note"), ("user", "Q2"))
        assert [[m.content for m in turn] for turn in chat.turns(talk.messages)] == [
            ["few-shot"], ["Q1", "A1", "note"], ["Q2"]]

    def test_within_the_budget_everything_is_sent(self):
        talk = conversation(("user", "x" * 40), system="S")
        plan = chat.fit(talk, self.counter, context_length=100, reserve=10)
        assert plan.messages == talk.api_messages() and plan.dropped == [] and not plan.over
        assert plan.available == 90

    def test_without_a_context_length_nothing_is_checked(self):
        talk = conversation(("user", "x" * 4000))
        assert not chat.fit(talk, self.counter, context_length=None).dropped

    def test_refusing_says_by_how_much(self):
        talk = conversation(("user", "x" * 400))  # 100 + 3 + 3 tokens
        with pytest.raises(ContextTooLong) as refused:
            chat.fit(talk, self.counter, context_length=100, reserve=20)
        assert "~106 tokens; the budget allows 80 (20 kept for the reply)" in str(refused.value)

    def test_dropping_leaves_out_the_fewest_oldest_turns(self):
        talk = conversation(("user", "a" * 80), ("assistant", "b" * 80), ("user", "c" * 80),
                            ("assistant", "d" * 80), ("user", "e" * 80), system="S" * 8)
        plan = chat.fit(talk, self.counter, context_length=80, policy="drop_oldest")
        first, second, third, fourth, _ = talk.messages
        assert plan.dropped == [first.id, second.id]
        assert plan.messages[0] == {"role": "system", "content": "S" * 8}
        assert plan.used.tokens > 80 >= plan.sent.tokens and plan.over

    def test_when_even_the_newest_turn_does_not_fit_nothing_is_sent(self):
        talk = conversation(("user", "a"), ("user", "z" * 1000))
        with pytest.raises(ContextTooLong, match="newest turn alone"):
            chat.fit(talk, self.counter, context_length=100, policy="drop_oldest")

    @given(lengths=st.lists(st.tuples(st.sampled_from(chat.ROLES), st.integers(0, 200)),
                            min_size=1, max_size=12),
           system=st.integers(0, 100), limit=st.integers(10, 600), reserve=st.integers(0, 50))
    @settings(max_examples=150, deadline=None)
    def test_dropping_is_minimal_and_keeps_whole_turns(self, lengths, system, limit, reserve):
        talk = conversation(*[(role, "x" * size) for role, size in lengths], system="s" * system)
        groups = chat.turns(talk.messages)
        try:
            plan = chat.fit(talk, self.counter, context_length=limit, reserve=reserve,
                            policy="drop_oldest")
        except ContextTooLong:
            newest = Conversation(system=talk.system, messages=groups[-1])
            assert self.counter.count_messages(newest.api_messages()).tokens > limit - reserve
            return
        prefixes = [[m.id for group in groups[:k] for m in group] for k in range(len(groups))]
        assert plan.dropped in prefixes  # whole turns, oldest first, never the newest
        dropped_turns = prefixes.index(plan.dropped)
        assert plan.sent.tokens <= limit - reserve
        assert self.counter.count_messages(plan.messages) == plan.sent
        if dropped_turns:  # one turn fewer dropped would not have fitted
            fewer = prefixes[dropped_turns - 1]
            assert self.counter.count_messages(talk.api_messages(fewer)).tokens > limit - reserve


class TestCounting:
    def test_a_server_without_tokenize_is_asked_once_then_estimated(self, fault_server):
        counter = ServerCounter(fault_connection(fault_server), "fault-model")
        before = fault_server.request_count
        assert counter.count_text("abcdefgh") == chat.TokenCount(2, False)
        assert counter.count_text("abcd") == chat.TokenCount(1, False)
        assert fault_server.request_count == before + 1
        assert "404" in counter.problem and not counter.exact

    def test_local_server_counts_exactly_what_the_prompt_costs(self, local_base_url):
        conn = Connection("Local", base_url=local_base_url)
        counter = ServerCounter(conn, SMOL)
        talk = conversation(("user", "Where was it played?"), system="You are a helpful assistant.")
        count = counter.count_messages(talk.api_messages())
        request = runner.build_request("chat", SMOL, {"max_tokens": 1},
                                       messages=talk.api_messages())
        result = runner.run(conn, "chat", request)
        assert count == chat.TokenCount(result.usage["prompt_tokens"], True)
        assert counter.context_length > 0
        chat.count_missing(talk.messages, counter)
        assert talk.messages[0].tokens_exact and 0 < talk.messages[0].tokens < count.tokens


class TestReplies:
    def test_a_reply_records_the_sampling_settings_it_was_made_with(self, fault_server):
        request = runner.build_request("chat", "fault-model", {
            "temperature": 0.4, "presence_penalty": 0.5, "logit_bias": {"7": -100},
            "max_tokens": 3}, messages=[{"role": "user", "content": "Hi"}])
        result = runner.run(fault_connection(fault_server), "chat", request)
        (reply,) = chat.replies_from(result)
        assert (reply.temperature, reply.top_p, reply.presence_penalty,
                reply.frequency_penalty, reply.logit_bias) == (0.4, 1.0, 0.5, 0.0, {"7": -100.0})
        assert Message.from_dict(json.loads(json.dumps(reply.to_dict()))) == reply

    def test_a_reply_saved_before_settings_were_recorded_has_none(self):
        old = Message.from_dict({"role": "assistant", "content": "Hello"})
        assert (old.temperature, old.top_p, old.logit_bias) == (None, None, None)
        damaged = Message.from_dict({"role": "assistant", "content": "Hello",
                                     "temperature": "hot", "top_p": True, "logit_bias": [1]})
        assert (damaged.temperature, damaged.top_p, damaged.logit_bias) == (None, None, None)

    def test_several_choices_with_their_token_probabilities(self, fault_server):
        request = runner.build_request("chat", "fault-model", {"n": 2, "logprobs": True,
                                                               "max_tokens": 3},
                                       messages=[{"role": "user", "content": "Hi"}])
        result = runner.run(fault_connection(fault_server), "chat", request)
        first, second = chat.replies_from(result)
        assert first.content == "The quick brown" and first.finish_reason == "length"
        assert first.tokens == 3 and first.tokens_exact  # from the token probabilities
        assert [entry["token"] for entry in second.logprobs] == ["The", " quick", " brown"]
        assert first.prompt_tokens == 1 and first.latency > 0 and not first.incomplete

    def test_a_streamed_reply_keeps_usage_timing_and_probabilities(self, fault_server):
        request = runner.build_request("chat", "fault-model", {"stream": True, "logprobs": True,
                                                               "max_tokens": 4},
                                       messages=[{"role": "user", "content": "Hi"}])
        result = runner.run(fault_connection(fault_server), "chat", request)
        (reply,) = chat.replies_from(result)
        assert (reply.content, reply.tokens, reply.tokens_exact) == ("The quick brown fox", 4, True)
        assert reply.time_to_first_token == result.time_to_first_token and len(reply.logprobs) == 4
        (timed,) = chat.replies_from(result, first_text={0: 1.5})  # measured per choice
        assert timed.time_to_first_token == 1.5

    def test_a_broken_stream_keeps_what_arrived_marked_incomplete(self, fault_server):
        request = runner.build_request("chat", "fault-model", {"stream": True},
                                       messages=[{"role": "user", "content": "Hi"}])
        request["extra_headers"] = {"X-Fault": "cut"}
        result = runner.run(fault_connection(fault_server), "chat", request)
        (reply,) = chat.replies_from(result)
        assert reply.incomplete and reply.content and "broke off" in reply.error
        assert reply.tokens is None  # no usage arrived: left for the counter


class TestExports:
    def test_json_is_the_messages_array(self):
        talk = conversation(("user", "Q"), ("assistant", "A"), system="S")
        assert json.loads(chat.to_json(talk)) == talk.api_messages()

    def test_markdown_fences_hold_any_text(self):
        talk = conversation(("user", "# not a heading"), ("assistant", "```\nx\n````"))
        talk.messages[1].incomplete = True
        text = chat.to_markdown(talk)
        assert "## User\n\n```text\n# not a heading\n```" in text
        assert "## Assistant\n\n_incomplete_\n\n`````text\n```\nx\n````\n`````" in text

"""Token log-probabilities read from both wire formats, from streams, and with echo."""

from __future__ import annotations

from playground.logprobs import TokenLogprob, by_choice, echo_boundary, tokens_of
from playground.runner import Choice, RunResult

# What the local server returns for "Say: hello." with echo and logprobs=2 (shortened).
ECHOED = {
    "tokens": ["", "Say", ":", " hello", ".", "\n\n", "I"],
    "token_logprobs": [None, -12.2, -5.6, -6.6, -3.9, -1.6, -2.1],
    "top_logprobs": [None, {"<h1>": -2.5, "<strong>": -2.7}, {" hello": -1.7, "ing": -2.5},
                     {"\n\n": -1.2, " “": -1.9}, {" to": -0.3, ",": -3.1},
                     {"\n\n": -1.6, " I": -2.2}, {"Say": -2.2, "I": -2.1}],
    "text_offset": [0, 0, 3, 4, 10, 11, 13],
}


def test_completions_format():
    rows = tokens_of(ECHOED)
    assert rows[0] == TokenLogprob("", None, ())
    assert rows[1] == TokenLogprob("Say", -12.2, (("<h1>", -2.5), ("<strong>", -2.7)))
    assert rows[6].top == (("I", -2.1), ("Say", -2.2))  # most likely first


def test_chat_format():
    field = {"content": [{"token": "Hi", "logprob": -0.1, "top_logprobs": [
        {"token": "Hello", "logprob": -2.0}, {"token": "Hi", "logprob": -0.1}]}], "refusal": None}
    assert tokens_of(field) == [TokenLogprob("Hi", -0.1, (("Hi", -0.1), ("Hello", -2.0)))]


def test_no_logprobs_is_no_rows():
    assert tokens_of(None) == []
    assert tokens_of({"tokens": None}) == []
    # lists of the wrong length are ignored rather than misaligned
    assert tokens_of({"tokens": ["a", "b"], "token_logprobs": [-1.0]}) == [
        TokenLogprob("a", None), TokenLogprob("b", None)]


def test_echo_boundary_counts_the_prompt_tokens():
    assert echo_boundary(ECHOED, "Say: hello.") == 5
    assert echo_boundary(ECHOED, "") == 0
    assert echo_boundary(None, "Say") == 0


def _chunk(index, tokens, values, offsets, text):
    return {"choices": [{"index": index, "text": text, "logprobs": {
        "tokens": tokens, "token_logprobs": values,
        "top_logprobs": [{t: v} for t, v in zip(tokens, values)], "text_offset": offsets}}]}


def test_a_streams_pieces_are_joined_per_choice():
    raw = [_chunk(0, ["A"], [-1.0], [0], "A"), _chunk(1, ["B"], [-2.0], [0], "B"),
           _chunk(0, ["a", "b"], [-0.5, -0.25], [1, 2], "ab"),
           {"choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": "length"}]},
           {"choices": [], "usage": {"total_tokens": 4}}]
    result = RunResult("completions", {}, [Choice(0, "Aab"), Choice(1, "B")], raw=raw)
    joined = by_choice(result)
    assert [row.text for row in tokens_of(joined[0])] == ["A", "a", "b"]
    assert joined[0]["text_offset"] == [0, 1, 2]
    assert [row.logprob for row in tokens_of(joined[1])] == [-2.0]


def test_a_whole_response_keeps_each_choices_field():
    result = RunResult("completions", {}, [Choice(0, "x", "stop", ECHOED), Choice(1, "y")],
                       raw={"choices": []})
    assert by_choice(result) == {0: ECHOED, 1: None}

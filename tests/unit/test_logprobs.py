"""Token log-probabilities read from both wire formats, from streams, and with echo."""

from __future__ import annotations

from playground.logprobs import TokenLogprob, by_choice, echo_boundary, pieces, tokens_of
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
    assert rows[0] == TokenLogprob("", None, (), None, 0)
    assert rows[1] == TokenLogprob("Say", -12.2, (("<h1>", -2.5), ("<strong>", -2.7)), None, 0)
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
    # bytes that are no bytes are left out, not guessed at
    assert tokens_of({"content": [{"token": "a", "logprob": -1, "bytes": [300]}]})[0].raw is None


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


# SmolLM2's own tokens: the parrot 🦜 (f0 9f a6 9c) is three tokens, the final mem of
# "שלום" (d7 9d) two; each alone decodes to U+FFFD.
PARROT = [b"\xf0\x9f", b"\xa6", b"\x9c"]
SHALOM = [b"\xd7\xa9", b"\xd7\x9c", b"\xd7\x95", b"\xd7", b"\x9d"]


def _chat_field(pieces_, logprobs):
    return {"content": [{"token": raw.decode("utf-8", errors="replace"), "logprob": value,
                         "bytes": list(raw), "top_logprobs": []}
                        for raw, value in zip(pieces_, logprobs)]}


def test_chat_tokens_split_inside_a_character_are_joined_by_their_bytes():
    raw = [b"A", b" bird"] + [b" "] + PARROT + [b" and"] + [b" "] + SHALOM
    rows = tokens_of(_chat_field(raw, [-0.1] * len(raw)))
    assert [row.text for row in rows].count("\ufffd") == 5
    found = pieces(rows)
    assert [piece.text for piece in found] == ["A", " bird", " ", "🦜", " and", " ", "ש", "ל",
                                               "ו", "ם"]
    parrot, mem = found[3], found[-1]
    assert [token.raw for token in parrot.tokens] == PARROT and parrot.first == 3
    assert parrot.raw == "🦜".encode() and mem.raw == "ם".encode()
    assert len(mem.tokens) == 2 and mem.first == len(raw) - 2
    assert "\ufffd" not in "".join(piece.text for piece in found)


def test_a_joined_piece_is_as_likely_as_its_least_likely_token():
    rows = tokens_of(_chat_field(PARROT, [-0.2, -3.0, -0.01]))
    (piece,) = pieces(rows)
    assert piece.lowest_logprob == -3.0


def test_a_token_ending_one_character_and_starting_another_joins_both():
    raw = [b"\xd7", b"\xa9\xd7", b"\x9c!"]  # "של!" split mid-letter twice
    (piece,) = pieces(tokens_of(_chat_field(raw, [-1.0, -1.0, -1.0])))
    assert piece.text == "של!" and len(piece.tokens) == 3


def test_a_stream_cut_inside_a_character_ends_in_one_replacement_mark():
    found = pieces(tokens_of(_chat_field([b"ok", *PARROT[:2]], [-1.0] * 3)))
    assert [piece.text for piece in found] == ["ok", "\ufffd"]


def test_completions_tokens_are_joined_by_their_offsets_in_the_text():
    # The legacy shape has no bytes: the split tokens read U+FFFD, and share an offset.
    text = "A 🦜 שלום"
    field = {"tokens": ["A", " ", "\ufffd", "\ufffd", "\ufffd", " ", "ש", "ל", "ו", "\ufffd",
                        "\ufffd"],
             "token_logprobs": [-0.5, -1.0, -2.0, -0.1, -0.3, -1.0, -1.0, -1.0, -1.0, -4.0, -0.2],
             "top_logprobs": [None] * 11,
             "text_offset": [0, 1, 2, 2, 2, 3, 4, 5, 6, 7, 7]}
    found = pieces(tokens_of(field), text)
    assert [piece.text for piece in found] == ["A", " ", "🦜", " ", "ש", "ל", "ו", "ם"]
    assert found[2].raw == "🦜".encode() and found[2].lowest_logprob == -2.0
    assert len(found[-1].tokens) == 2 and found[-1].lowest_logprob == -4.0


def test_offsets_that_disagree_with_the_text_leave_the_tokens_as_they_are():
    field = {"tokens": ["\ufffd", "\ufffd", "x"], "token_logprobs": [-1.0, -1.0, -1.0],
             "text_offset": [0, 0, 3]}
    assert [p.text for p in pieces(tokens_of(field), "🦜yx")] == ["\ufffd", "\ufffd", "x"]
    assert len(pieces(tokens_of(field), None)) == 3


def test_legacy_bytes_tokens_are_read_as_bytes():
    field = {"tokens": ["bytes:\\xf0\\x9f", "bytes:\\xa6", "bytes:\\x9c", "!"],
             "token_logprobs": [-1.0, -1.0, -1.0, -0.5]}
    rows = tokens_of(field)
    assert rows[0].raw == b"\xf0\x9f"
    assert [piece.text for piece in pieces(rows)] == ["🦜", "!"]


def test_consecutive_characters_split_over_completions_tokens_stay_apart():
    # As the local server answered "Parrots: 🦜🦜🦜🦜" and " שלום שלום" (a token's offset
    # is where its whole characters start; " \ufffd" shows its space at once).
    parrots = {"tokens": ["\ufffd"] * 6, "token_logprobs": [-1.0] * 6,
               "text_offset": [0, 0, 0, 1, 1, 1]}
    assert [p.text for p in pieces(tokens_of(parrots), "🦜🦜")] == ["🦜", "🦜"]
    shalom = {"tokens": [" \ufffd", "\ufffd", "ל", "ו", "\ufffd", "\ufffd", " \ufffd", "\ufffd"],
              "token_logprobs": [-1.0] * 8, "text_offset": [0, 1, 2, 3, 4, 4, 5, 6]}
    found = pieces(tokens_of(shalom), " שלום ש")
    assert [p.text for p in found] == [" ש", "ל", "ו", "ם", " ש"]
    assert [len(p.tokens) for p in found] == [2, 1, 1, 2, 2]

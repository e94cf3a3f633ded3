"""The logit_bias editor's syntax, and token text converted through a tokenizer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playground import errors, tokens
from playground.tokens import BiasEntry, ParsedBias, parse_logit_bias, resolve_logit_bias


def entries(text: str) -> list[tuple]:
    parsed = parse_logit_bias(text)
    assert parsed.problems == (), parsed.problems
    return [(e.token, e.bias) for e in parsed.entries]


class TestParse:
    def test_ids_text_and_quoted_text(self):
        text = '50256 -100\nhello 5\n" hello" -2.5\n"2024" 1\n\n  New York   3  '
        assert entries(text) == [(50256, -100), ("hello", 5), (" hello", -2.5), ("2024", 1),
                                 ("New York", 3)]

    def test_quoted_text_keeps_escapes(self):
        assert entries('"\\n" -100') == [("\n", -100)]

    def test_a_json_object_as_in_a_request_body(self):
        assert entries('{"50256": -100, "hello": 2}') == [(50256, -100), ("hello", 2)]

    def test_empty_is_nothing(self):
        assert parse_logit_bias("  \n ") == ParsedBias()
        assert parse_logit_bias(None) == ParsedBias()

    @pytest.mark.parametrize("text, problem", [
        ("hello", "Line 1: write a token id or token text, then its bias"),
        ("ok 1\nhello lots", "Line 2: the bias must be a number from -100 to 100; got 'lots'."),
        ("hello 101", "Line 1: the bias must be a number from -100 to 100; got 101."),
        ("hello nan", "Line 1: the bias must be a number from -100 to 100; got nan."),
        ('"hello -1', "Line 1: quoted token text must be a JSON string"),
        ('"" -1', "Line 1: quoted token text must not be empty."),
        ("{not json", "This is not a JSON object"),
        ('{"5": true}', "'5': the bias must be a number from -100 to 100; got True."),
    ])
    def test_every_problem_names_its_line_and_what_is_allowed(self, text, problem):
        problems = parse_logit_bias(text).problems
        assert len(problems) == 1 and problems[0].startswith(problem), problems

    def test_ids_only_need_no_tokenizer(self):
        parsed = parse_logit_bias("1 2\n3 -4")
        assert not parsed.needs_tokenizer
        assert parsed.by_id() == {"1": 2, "3": -4}
        assert parse_logit_bias("1 2\nx 3").needs_tokenizer

    @given(st.dictionaries(st.integers(0, 300_000).map(str),
                           st.integers(-100, 100) | st.floats(-100, 100), max_size=8))
    def test_format_reads_back(self, bias):
        parsed = parse_logit_bias(tokens.format_logit_bias(bias))
        assert parsed.problems == ()
        assert parsed.by_id() == {k: pytest.approx(v) for k, v in bias.items()}


class TestResolve:
    def test_text_becomes_each_of_its_ids_and_ids_stay(self):
        calls = []

        def tokenize(text):
            calls.append(text)
            return {"hello": [7], "New York": [8, 9]}[text]

        parsed = ParsedBias((BiasEntry("hello", -100, 1), BiasEntry(3, 5, 2),
                             BiasEntry("New York", 2, 3), BiasEntry("hello", -50, 4)))
        resolved = resolve_logit_bias(parsed, tokenize)
        assert resolved.bias == {"7": -50, "3": 5, "8": 2, "9": 2}  # the later entry wins
        assert resolved.texts == {"hello": [7], "New York": [8, 9]}
        assert calls == ["hello", "New York"]
        assert resolved.problems == ()

    def test_text_with_no_tokens_is_a_problem(self):
        resolved = resolve_logit_bias(ParsedBias((BiasEntry("x", 1, 2),)), lambda text: [])
        assert resolved.problems == ("Line 2: 'x' is no token at all.",)

    def test_an_endpoint_without_a_tokenizer_asks_for_ids(self):
        def tokenize(text):
            raise errors.ModelNotFound("Not found (404): Invalid URL (POST /v1/tokenize)")

        resolved = resolve_logit_bias(ParsedBias((BiasEntry("hi", 1, 1), BiasEntry("yo", 1, 2))),
                                      tokenize)
        (problem,) = resolved.problems
        assert "Invalid URL (POST /v1/tokenize)" in problem
        assert "write the id instead" in problem

"""Messages typed or pasted by a person: checked and parsed, every problem named."""

from __future__ import annotations

import json

import pytest

from playground import messages
from playground.errors import InvalidParameters

GOOD = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "And?"}]


def test_a_well_formed_array_has_no_problems_and_parses_to_itself():
    assert messages.problems(GOOD) == []
    assert messages.parse(json.dumps(GOOD)) == GOOD


@pytest.mark.parametrize("value, words", [
    ([], "at least one"),
    ({"role": "user", "content": "Hi"}, "a list of {role, content}"),
    ([{"role": "robot", "content": "Hi"}], "Message 1's role must be system, user or assistant"),
    ([GOOD[0], {"role": "user", "content": 3}], "Message 2's content must be text"),
    ([{"role": "user"}], "Message 1 must have exactly a role and a content"),
    ([{"role": "user", "content": "Hi", "name": "x"}], "exactly a role and a content"),
    (["Hi"], "Message 1 must have"),
])
def test_each_problem_is_named(value, words):
    (problem,) = messages.problems(value)
    assert words in problem


def test_every_bad_message_is_named_not_just_the_first():
    found = messages.problems([{"role": "robot", "content": ""}, GOOD[1], {"role": "user"}])
    assert [problem.split()[1] for problem in found] == ["1's", "3"]


def test_too_many_messages_says_the_limit():
    (problem,) = messages.problems([GOOD[1]] * 5, limit=4)
    assert "At most 4 messages; there are 5" in problem


@pytest.mark.parametrize("text, words", [
    ("", "not valid JSON"),
    ('[{"role": "user", "content": "Hi"}', "not valid JSON (line 1, column 35)"),
    ("[" * 100_000, "not valid JSON"),
    ('{"role": "user", "content": "Hi"}', "a list of {role, content}"),
    ('[{"role": "user", "content": null}]', "content must be text"),
])
def test_parse_raises_invalid_parameters_naming_the_field(text, words):
    with pytest.raises(InvalidParameters) as raised:
        messages.parse(text, field="Messages (JSON)")
    (error,) = raised.value.errors
    assert error.field == "Messages (JSON)" and error.message.startswith("Messages (JSON)")
    assert words in error.message

"""Structured outputs: strict mode's rules before sending, a reply checked against its schema."""

from __future__ import annotations

import json

import pytest

from playground.structured import TEMPLATES, check_reply, schema_problems


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_is_a_valid_strict_schema(name):
    assert schema_problems(TEMPLATES[name], strict=True) == []


def test_strict_mode_wants_an_object_root_all_properties_required_and_no_extras():
    assert "root must be" in schema_problems({"type": "array"}, strict=True)[0]
    loose = {"type": "object", "properties": {"a": {"type": "string"}, "b": {
        "type": "object", "properties": {"c": {"type": "integer"}}, "required": ["c"]}},
        "required": ["a"]}
    problems = schema_problems(loose, strict=True)
    assert any("at the root, add b to required" in p for p in problems)
    assert any('#/properties/b needs "additionalProperties": false' in p for p in problems)
    assert schema_problems(loose) == []  # without strict, any valid JSON Schema


def test_a_property_named_like_a_keyword_is_a_name_not_a_schema():
    schema = {"type": "object", "properties": {"properties": {"type": "string"}},
              "required": ["properties"], "additionalProperties": False}
    assert schema_problems(schema, strict=True) == []


def test_a_conforming_reply_is_valid():
    reply = json.dumps({"city": "Paris", "country": "France", "population": 2100000})
    checked = check_reply(reply, TEMPLATES["city facts"])
    assert checked.valid and checked.value["city"] == "Paris"


def test_every_violation_is_listed_with_its_path():
    reply = json.dumps({"city": "Paris", "population": "many", "mayor": "x"})
    checked = check_reply(reply, TEMPLATES["city facts"])
    assert not checked.valid
    by_path = {(v.path, v.message) for v in checked.violations}
    assert ((), "'country' is a required property") in by_path
    assert (("population",), "'many' is not of type 'integer'") in by_path
    assert any(path == () and "mayor" in message for path, message in by_path)


def test_a_reply_that_is_not_json_says_where_it_breaks():
    checked = check_reply('{"city": "Par', TEMPLATES["city facts"])
    assert not checked.valid and checked.not_json.startswith("The reply is not JSON:")


def test_json_mode_only_checks_that_it_parses():
    assert check_reply('{"anything": [1, 2]}', None).valid

"""Structured outputs: checking a JSON schema before it is sent, and a reply against it.

OpenAI's strict mode takes a subset of JSON Schema: the root is an object, and every object
lists all its properties in ``required`` and sets ``additionalProperties: false``
(an optional field is written as a type that allows null). ``schema_problems`` says where a
schema breaks those rules, so the page can say so before sending instead of after a 400.
A reply is checked with the ``jsonschema`` library, every violation with its path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import jsonschema

TEMPLATES: dict[str, dict[str, Any]] = {
    "city facts": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "country": {"type": "string"},
            "population": {"type": "integer"},
        },
        "required": ["city", "country", "population"],
        "additionalProperties": False,
    },
    "sentiment": {
        "type": "object",
        "properties": {
            "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
            "confidence": {"type": "number"},
        },
        "required": ["sentiment", "confidence"],
        "additionalProperties": False,
    },
    "steps": {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"explanation": {"type": "string"},
                                   "output": {"type": "string"}},
                    "required": ["explanation", "output"],
                    "additionalProperties": False,
                },
            },
            "final_answer": {"type": "string"},
        },
        "required": ["steps", "final_answer"],
        "additionalProperties": False,
    },
}


def schema_problems(schema: Any, *, strict: bool = False) -> list[str]:
    """What is wrong with ``schema`` as a JSON schema, and with strict mode's rules when
    ``strict``; an empty list when it can be sent."""
    if not isinstance(schema, dict):
        return ["The schema must be a JSON object."]
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [f"The schema is not valid JSON Schema at {_where(exc.absolute_path)}: "
                f"{exc.message}"]
    if not strict:
        return []
    if schema.get("type") != "object":
        return ['With strict on, the schema\'s root must be {"type": "object", …}.']
    return list(_strict_problems(schema, []))


def _strict_problems(node: Any, path: list[str]):
    if isinstance(node, list):
        for position, item in enumerate(node):
            yield from _strict_problems(item, [*path, str(position)])
        return
    if not isinstance(node, dict):
        return
    if "properties" in node and isinstance(node["properties"], dict):
        where = _where(path)
        missing = [name for name in node["properties"] if name not in (node.get("required") or [])]
        if missing:
            yield (f"With strict on, every property must be required: at {where}, add "
                   f"{', '.join(missing)} to required (allow null for an optional one).")
        if node.get("additionalProperties") is not False:
            yield f'With strict on, the object at {where} needs "additionalProperties": false.'
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            for name, sub in value.items():  # names, not schema keywords
                yield from _strict_problems(sub, [*path, key, name])
        elif key not in ("enum", "const", "required", "default", "examples"):
            yield from _strict_problems(value, [*path, key])


def _where(path) -> str:
    parts = [str(part) for part in path]
    return "/".join(["#", *parts]) if parts else "the root"


@dataclass(frozen=True)
class Violation:
    """One way the reply breaks the schema: where (a JSON pointer path) and what."""

    path: tuple[str | int, ...]
    message: str


@dataclass
class CheckedReply:
    """A reply read as JSON and checked: ``value`` when it parsed, else ``not_json``."""

    value: Any = None
    not_json: str | None = None
    violations: list[Violation] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.not_json is None and not self.violations


def check_reply(text: str, schema: dict[str, Any] | None) -> CheckedReply:
    """Parse ``text`` as JSON and, with a schema, list every violation of it."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return CheckedReply(not_json=f"The reply is not JSON: {exc.msg} at character {exc.pos}.")
    except RecursionError:
        return CheckedReply(not_json="The reply is JSON nested too deep to read.")
    checked = CheckedReply(value=value)
    if schema:
        validator = jsonschema.Draft202012Validator(schema)
        checked.violations = [Violation(tuple(error.absolute_path), error.message)
                              for error in sorted(validator.iter_errors(value),
                                                  key=lambda e: list(map(str, e.absolute_path)))]
    return checked

"""The README's parameter reference, written from the declaration in ``playground.params``.

``python -m playground.params_reference`` rewrites the part of README.md between the two
markers; a test checks that the README holds what this module writes, so the reference
cannot drift from the declaration.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playground.params import ALL_FAMILIES, FAMILIES, SPECS, ParamSpec

START = "<!-- parameter reference: written by python -m playground.params_reference -->"
END = "<!-- end of parameter reference -->"
README = Path(__file__).resolve().parents[1] / "README.md"

_FAMILY_NAMES = {"classic": "not reasoning", "reasoning": "reasoning",
                 "effort_none": 'effort "none"'}
_VALUE_TYPES = {"float": "number", "int": "whole number", "bool": "true/false", "text": "text",
                "stop": "string or list", "logit_bias": "token id → bias", "choice": "one of",
                "response_format": "object"}


def reference() -> str:
    """The reference as Markdown: one row per parameter and endpoint, then the families."""
    lines = [
        "| parameter | endpoints | values | API default | models that take it | what it does |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [_row(spec) for spec in SPECS]
    lines += ["", "Model families:", ""]
    lines += [f"- **{_FAMILY_NAMES[name]}**: {text}." for name, text in FAMILIES.items()]
    return "\n".join(lines)


def _row(spec: ParamSpec) -> str:
    endpoints = ", ".join(sorted(spec.endpoints))
    values = _VALUE_TYPES[spec.value_type]
    if spec.range_text():
        separator = " " if spec.value_type == "choice" else ", "
        values += separator + spec.range_text()
    default = "not set" if spec.default is None else f"`{_literal(spec.default)}`"
    if spec.families == ALL_FAMILIES:
        families = "all"
    else:
        families = ", ".join(_FAMILY_NAMES[name] for name in FAMILIES if name in spec.families)
    if spec.replaced_by:
        families += f" (others: `{spec.replaced_by}`)"
    help_text = spec.help.replace("|", "\\|")
    return f"| `{spec.name}` | {endpoints} | {values} | {default} | {families} | {help_text} |"


def _literal(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def with_reference(readme: str) -> str:
    """``readme`` with the text between the markers replaced by ``reference()``."""
    head, found, rest = readme.partition(START)
    _, found_end, tail = rest.partition(END)
    if not found or not found_end:
        raise ValueError("The README lacks the parameter reference's markers.")
    return f"{head}{START}\n{reference()}\n{END}{tail}"


def main() -> int:
    README.write_text(with_reference(README.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"Wrote the parameter reference into {README.name}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

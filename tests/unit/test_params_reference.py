"""The README's parameter reference is the declaration's, word for word."""

from __future__ import annotations

import pytest

from playground import params_reference
from playground.params import SPECS


def test_the_readme_holds_the_reference_the_declaration_writes():
    readme = params_reference.README.read_text(encoding="utf-8")
    assert params_reference.with_reference(readme) == readme, (
        "The README's parameter reference is out of date: run "
        "python -m playground.params_reference")


def test_every_parameter_has_a_row_with_its_families():
    reference = params_reference.reference()
    for spec in SPECS:
        assert f"| `{spec.name}` | {', '.join(sorted(spec.endpoints))} |" in reference
    assert "| `max_tokens` | chat, completions | whole number, 1 to 131072 | not set | " \
           "not reasoning (others: `max_completion_tokens`) |" in reference
    assert '| `reasoning_effort` | chat | one of "none", "minimal"' in reference


def test_a_readme_without_the_markers_is_refused():
    with pytest.raises(ValueError, match="markers"):
        params_reference.with_reference("# A README\n")

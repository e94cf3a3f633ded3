"""The chat API's ``messages`` array as a user writes it: checked, or parsed from JSON.

Presets, the Compare page's conversation field and anything else that takes messages from
a person or a file check them here, so every place names the same problems the same way.
"""

from __future__ import annotations

import json
from typing import Any

from playground.errors import InvalidParameters
from playground.params import FieldError

ROLES = ("system", "user", "assistant")
MAX_MESSAGES = 200
EXAMPLE = '[{"role": "user", "content": "Hello"}]'


def problems(messages: Any, *, limit: int = MAX_MESSAGES) -> list[str]:
    """What is wrong with ``messages`` as a chat request's messages; empty when all is well."""
    if not isinstance(messages, list) or not messages:
        return ["Chat needs messages: a list of {role, content} objects, at least one."]
    if len(messages) > limit:
        return [f"At most {limit} messages; there are {len(messages)}."]
    found = []
    for number, message in enumerate(messages, 1):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            found.append(f"Message {number} must have exactly a role and a content.")
        elif message["role"] not in ROLES:
            found.append(f"Message {number}'s role must be system, user or assistant; "
                         f"got {message['role']!r}.")
        elif not isinstance(message["content"], str):
            found.append(f"Message {number}'s content must be text.")
    return found


def parse(text: str | None, *, field: str = "messages") -> list[dict[str, str]]:
    """A messages array from JSON text; raises ``InvalidParameters`` naming ``field``."""
    try:
        messages = json.loads(text or "")
    except (ValueError, RecursionError) as exc:
        detail = f" (line {exc.lineno}, column {exc.colno})" if hasattr(exc, "lineno") else ""
        raise InvalidParameters([FieldError(field, f"{field} is not valid JSON{detail}: write "
                                                   f"an array such as {EXAMPLE}.")]) from exc
    found = problems(messages)
    if found:
        raise InvalidParameters([FieldError(field, f"{field}: {problem}") for problem in found])
    return messages

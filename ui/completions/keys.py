"""The Completions page's session keys."""

COMPLETIONS_RESULT = "completions.result"  # the last output.Outcome of the Completions page
COMPLETIONS_PROMPT = "completions.prompt"  # widget key of the Completions prompt


def preset_field(field: str, endpoint: str) -> str:
    """Keys of an endpoint's presets panel: "pick" and "name" (widgets), "link" (the
    shared link last applied or written), "notice" (a callback's message, shown once) and
    "saved" (the preset just saved, picked on the next run)."""
    return f"presets.{field}::{endpoint}"

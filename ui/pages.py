"""The app's pages, in one place so that any page can send the user to another."""

from __future__ import annotations

COMPLETIONS = "pages/completions.py"
CHAT = "pages/chat.py"
COMPARE = "pages/compare.py"
MODELS = "pages/models.py"
USAGE = "pages/usage.py"

# path, title, Material icon
ALL = (
    (COMPLETIONS, "Completions", ":material/edit_note:"),
    (CHAT, "Chat", ":material/forum:"),
    (COMPARE, "Compare", ":material/compare:"),
    (MODELS, "Models", ":material/model_training:"),
    (USAGE, "Usage", ":material/monitoring:"),
)

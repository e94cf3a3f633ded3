"""The Chat page's widgets: the transcript, sending, the context budget, saved conversations
and the tutorial example.

Another page reaches Chat only through what is named here.
"""

from ui.chat.saved import show as open_conversation

__all__ = ["open_conversation"]

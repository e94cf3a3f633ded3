"""The Compare page's widgets: the grid's setup, its run, the results, charts and saved runs.

Other pages hand work to Compare only through what is named here: a conversation from
Chat, a base model from Models.
"""

from ui.compare.grid_setup import start_in_completion_mode, take_conversation

__all__ = ["start_in_completion_mode", "take_conversation"]

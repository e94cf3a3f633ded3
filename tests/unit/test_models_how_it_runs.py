"""How the Models page words what the local server says of a model's threads and batch."""

from __future__ import annotations

import pytest

from ui.common.models import how_it_runs


@pytest.mark.parametrize(("entry", "words"), [
    ({"threads": 2, "parallel_sequences": 16},
     "On this server it computes on 2 CPU threads and decodes up to 16 requests together "
     "(each choice of n counts)."),
    ({"threads": 1, "parallel_sequences": 1},
     "On this server it computes on 1 CPU thread and decodes one request at a time."),
    ({"parallel_sequences": 3}, "On this server it decodes up to 3 requests together "
                                "(each choice of n counts)."),
    ({"id": "gpt-4o"}, None),  # another server says neither
    ({"threads": "2", "parallel_sequences": True}, None),  # not counts
    ({"threads": 0, "parallel_sequences": -1}, None),
])
def test_what_the_server_says_in_words(entry, words):
    assert how_it_runs(entry) == words

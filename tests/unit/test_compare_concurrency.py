"""Compare's default concurrency (enough to fill each local model's batch) and the pace of a
running grid in tokens per second."""

from __future__ import annotations

import pytest

from playground.compare import (
    DEFAULT_WORKERS,
    MAX_WORKERS,
    Cell,
    CellResult,
    default_workers,
    parallel_sequences,
    progress_text,
)
from playground.compare.concurrency import completion_tokens, tokens_per_second


@pytest.mark.parametrize("details, expected", [
    ({"id": "smollm2-135m-instruct", "parallel_sequences": 8}, 8),
    ({"id": "gemma-3-270m", "parallel_sequences": 1}, 1),
    ({"id": "gpt-4o-mini"}, None),
    ({"parallel_sequences": 0}, None),
    ({"parallel_sequences": -2}, None),
    ({"parallel_sequences": "8"}, None),
    ({"parallel_sequences": 8.0}, None),
    ({"parallel_sequences": True}, None),
    ({"parallel_sequences": None}, None),
    (None, None),
    ("8", None),
])
def test_parallel_sequences_only_from_a_positive_whole_number(details, expected):
    assert parallel_sequences(details) == expected


class TestDefaultWorkers:
    def test_one_local_model_fills_its_batch(self):
        default = default_workers({"smollm2-135m-instruct": 8}, others=False)
        assert default.workers == 8
        assert "smollm2-135m-instruct decodes 8 requests together" in default.reason

    def test_a_model_decoding_one_at_a_time_gets_one(self):
        default = default_workers({"gemma-3-270m": 1}, others=False)
        assert default.workers == 1
        assert "one request at a time" in default.reason

    def test_several_local_models_get_the_sum(self):
        default = default_workers({"smollm2-135m-instruct": 8, "gemma-3-270m": 1}, others=False)
        assert default.workers == 9
        assert "smollm2-135m-instruct 8 + gemma-3-270m 1 = 9" in default.reason

    def test_the_sum_is_capped_by_the_inputs_maximum(self):
        default = default_workers({"a": 20, "b": 20}, others=False)
        assert default.workers == MAX_WORKERS == 32
        assert "= 40, capped at 32" in default.reason

    def test_other_endpoints_keep_their_four(self):
        assert default_workers({}, others=True).workers == DEFAULT_WORKERS == 4
        mixed = default_workers({"smollm2-135m-instruct": 8}, others=True)
        assert mixed.workers == 12 and "other endpoints 4" in mixed.reason

    def test_anything_unknown_falls_back_to_four(self):
        default = default_workers({"smollm2-135m-instruct": 8, "typo": None}, others=False)
        assert default.workers == 4 and "typo" in default.reason
        assert default_workers({}, others=False).workers == 4


def finished(usage: dict, status: str = "ok") -> CellResult:
    cell = Cell("c1", 0, {}, {}, "model", "conn")
    return CellResult(cell, status=status, usage=usage)


class TestTokensPerSecond:
    def test_the_finished_cells_tokens_over_the_wall_time(self):
        assert progress_text(5, 12, 1560, 5.0) == "5 of 12 cells done · 312 tokens/s · 5 s"
        assert progress_text(12, 12, 123_456, 10.0) \
            == "12 of 12 cells done · 12,346 tokens/s · 10 s"

    def test_a_slow_pace_keeps_a_decimal(self):
        assert tokens_per_second(7, 2.0) == "3.5 tokens/s"
        assert tokens_per_second(0, 2.0) == "0 tokens/s"

    def test_no_number_before_a_cell_has_counted(self):
        assert progress_text(0, 12, None, 0.0) == "0 of 12 cells done · – tokens/s · 0 s"
        assert tokens_per_second(None, 3.0) == "– tokens/s"
        assert tokens_per_second(40, 0.0) == "– tokens/s"

    def test_only_reported_completion_tokens_count(self):
        results = [finished({"prompt_tokens": 9, "completion_tokens": 30, "total_tokens": 39}),
                   finished({}, status="failed"),
                   finished({"completion_tokens": 12})]
        assert completion_tokens(results) == 42
        assert completion_tokens([finished({}, status="failed")]) is None
        assert completion_tokens([]) is None

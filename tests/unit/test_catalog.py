"""What the app knows about models: facts, family look-up, prices, table rows, search."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playground import catalog
from playground.catalog import ModelFacts, Price, PriceTable
from playground.errors import PlaygroundError

LOCAL_SMOLLM = {
    "id": "smollm2-135m-instruct", "object": "model", "created": 1_700_000_000,
    "owned_by": "local", "context_length": 8192, "endpoints": ["completions", "chat"],
    "description": "SmolLM2 135M Instruct, Q4_1", "gguf": {"general.architecture": "llama"},
}
LOCAL_GEMMA = {
    "id": "gemma-3-270m", "object": "model", "created": 1_700_000_100, "owned_by": "local",
    "context_length": 32768, "endpoints": ["completions"], "description": "Gemma 3 270M base",
}
OPENAI_SNAPSHOT = {"id": "gpt-4o-mini-2024-07-18", "object": "model", "created": 1_721_172_741,
                   "owned_by": "system"}


class TestLookup:
    def test_exact_id_wins(self):
        assert catalog.lookup(catalog.SEED_PRICES, "gpt-4o") == Price(2.50, 10.00)

    def test_dated_snapshot_finds_its_longest_family(self):
        assert catalog.lookup(catalog.SEED_PRICES, "gpt-4o-mini-2024-07-18") == Price(0.15, 0.60)

    def test_a_longer_name_is_not_a_snapshot_without_a_dash(self):
        assert catalog.lookup({"gpt-4": 1}, "gpt-4o") is None

    def test_unknown_model(self):
        assert catalog.lookup(catalog.SEED_PRICES, "llama3:8b") is None


class TestFacts:
    def test_fields_reported_by_the_endpoint_come_first(self):
        facts = catalog.facts({**LOCAL_GEMMA, "id": "gpt-4o"})
        assert facts == ModelFacts(32768, ("completions",))

    def test_known_table_fills_what_the_listing_lacks(self):
        assert catalog.facts(OPENAI_SNAPSHOT) == ModelFacts(128_000, ("chat",))

    def test_unknown_model_has_no_facts_and_supports_everything(self):
        facts = catalog.facts({"id": "mystery"})
        assert facts == ModelFacts()
        assert facts.supports("chat") and facts.supports("completions")

    def test_supports_is_false_only_for_a_known_missing_endpoint(self):
        facts = catalog.facts(LOCAL_GEMMA)
        assert facts.supports("completions")
        assert not facts.supports("chat")


class TestPriceTable:
    def test_seed_prices_until_something_is_saved(self, tmp_path):
        table = PriceTable(tmp_path / "prices.csv")
        assert table.load() == catalog.SEED_PRICES
        assert not table.path.exists()

    def test_save_and_load_round_trip(self, tmp_path):
        table = PriceTable(tmp_path / "prices.csv")
        rows = catalog.price_rows(catalog.SEED_PRICES) + [
            {"model": "my-model", "input_per_million": "1.25", "output_per_million": 3}]
        saved = table.save(rows)
        assert saved["my-model"] == Price(1.25, 3.0)
        assert PriceTable(table.path).load() == saved
        header = table.path.read_text().splitlines()[0]
        assert header == "model,input_per_million,output_per_million"

    def test_default_path_is_in_the_data_folder(self, data_dir):
        assert PriceTable().path == data_dir / "prices.csv"

    @pytest.mark.parametrize("bad_row, fragment", [
        ({"model": "m", "input_per_million": -1, "output_per_million": 1}, "must be a number >= 0"),
        ({"model": "m", "input_per_million": "cheap", "output_per_million": 1}, "'cheap'"),
        ({"model": "m", "input_per_million": math.nan, "output_per_million": 1},
         "must be a number"),
        ({"model": "m", "input_per_million": 1, "output_per_million": None}, "output_per_million"),
    ])
    def test_a_bad_row_is_refused_and_the_file_kept(self, tmp_path, bad_row, fragment):
        table = PriceTable(tmp_path / "prices.csv")
        table.save([{"model": "kept", "input_per_million": 1, "output_per_million": 2}])
        before = table.path.read_text()
        with pytest.raises(PlaygroundError, match="Price row 2") as failure:
            table.save([{"model": "ok", "input_per_million": 1, "output_per_million": 1}, bad_row])
        assert fragment in failure.value.message
        assert failure.value.hint
        assert table.path.read_text() == before

    def test_duplicate_model_is_refused(self):
        row = {"model": "m", "input_per_million": 1, "output_per_million": 1}
        with pytest.raises(PlaygroundError, match="appears twice"):
            catalog.parse_prices([row, row])

    def test_rows_without_a_model_are_skipped(self):
        rows = [{"model": None, "input_per_million": None, "output_per_million": None},
                {"model": math.nan, "input_per_million": 1, "output_per_million": 1},
                {"model": "  ", "input_per_million": 1, "output_per_million": 1}]
        assert catalog.parse_prices(rows) == {}

    def test_a_broken_file_is_reported_with_a_hint(self, tmp_path):
        path = tmp_path / "prices.csv"
        path.write_text("model,input_per_million,output_per_million\ngpt-4o,two,10\n")
        with pytest.raises(PlaygroundError, match="could not be read") as failure:
            PriceTable(path).load()
        assert str(path) in failure.value.hint

    def test_a_file_that_is_not_text_is_reported(self, tmp_path):
        path = tmp_path / "prices.csv"
        path.write_bytes(b"\xff\xfe\x00garbage")
        with pytest.raises(PlaygroundError, match="could not be read"):
            PriceTable(path).load()

    @given(st.dictionaries(
        st.text(min_size=1).map(str.strip).filter(lambda s: s and s != "nan"),
        st.tuples(st.floats(0, 1e6), st.floats(0, 1e6)), max_size=20))
    def test_any_valid_price_list_round_trips(self, tmp_path_factory, generated):
        prices = {model: Price(*pair) for model, pair in generated.items()}
        table = PriceTable(tmp_path_factory.mktemp("prices") / "prices.csv")
        table.save(catalog.price_rows(prices))
        assert table.load() == prices


class TestRows:
    def test_one_row_per_model_sorted_with_facts_and_prices(self):
        rows = catalog.model_rows([LOCAL_SMOLLM, OPENAI_SNAPSHOT, LOCAL_GEMMA], catalog.SEED_PRICES)
        assert [row["id"] for row in rows] == ["gemma-3-270m", "gpt-4o-mini-2024-07-18",
                                                "smollm2-135m-instruct"]
        assert tuple(rows[0]) == catalog.MODEL_COLUMNS
        snapshot = rows[1]
        assert snapshot["context_length"] == 128_000
        assert snapshot["endpoints"] == "chat"
        assert (snapshot["input_per_million"], snapshot["output_per_million"]) == (0.15, 0.60)
        assert snapshot["created"] == datetime.fromtimestamp(1_721_172_741, tz=UTC)
        assert rows[2]["endpoints"] == "completions, chat"

    def test_missing_fields_become_empty_cells(self):
        (row,) = catalog.model_rows([{"id": "x", "created": "yesterday"}], {})
        assert row["created"] is None
        assert row["context_length"] is None and row["endpoints"] is None
        assert row["input_per_million"] is None

    def test_search_matches_every_word_in_any_text_column(self):
        rows = catalog.model_rows([LOCAL_SMOLLM, LOCAL_GEMMA, OPENAI_SNAPSHOT], {})
        assert [r["id"] for r in catalog.search(rows, "GEMMA")] == ["gemma-3-270m"]
        assert [r["id"] for r in catalog.search(rows, "local instruct")] == [
            "smollm2-135m-instruct"]
        assert [r["id"] for r in catalog.search(rows, "chat")] == ["gpt-4o-mini-2024-07-18",
                                                                  "smollm2-135m-instruct"]
        assert catalog.search(rows, "   ") == rows
        assert catalog.search(rows, "no-such-model") == []

    def test_details_of_a_local_model_include_its_gguf_metadata(self):
        details = catalog.details(LOCAL_SMOLLM, catalog.SEED_PRICES)
        assert details == {"context_length": 8192, "endpoints": ["completions", "chat"],
                           "input_per_million": 0.0, "output_per_million": 0.0,
                           "gguf": {"general.architecture": "llama"}}

    def test_retrieve_completes_the_listing_without_erasing_it(self):
        listed = {"id": "m", "owned_by": "me", "context_length": 4096}
        retrieved = {"id": "m", "owned_by": None, "gguf": {"a": "1"}}
        assert catalog.combined(listed, retrieved) == {"id": "m", "owned_by": "me",
                                                       "context_length": 4096, "gguf": {"a": "1"}}

    def test_a_model_without_an_id_does_not_break_anything(self):
        assert catalog.facts({"id": None}) == ModelFacts()
        assert catalog.model_rows([{"id": None}], catalog.SEED_PRICES)[0]["id"] == ""

    def test_details_of_an_unpriced_model(self):
        details = catalog.details({"id": "llama3:8b"}, catalog.SEED_PRICES)
        assert details["input_per_million"] is None and details["gguf"] is None

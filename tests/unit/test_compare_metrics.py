"""Text metrics on inputs whose values are worked out by hand in each test."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playground.compare import metrics


class TestLength:
    def test_chars_words_and_tokens(self):
        size = metrics.length("Hello,  world!\n", tokens=4)
        assert (size.chars, size.words, size.tokens) == (15, 2, 4)

    def test_tokens_unknown_by_default(self):
        assert metrics.length("").tokens is None
        assert metrics.length("").words == 0


class TestDistinct:
    def test_distinct_1_counts_unique_words(self):
        # the, cat, the, dog: 3 unique of 4
        assert metrics.distinct_1("the cat the dog") == 0.75

    def test_distinct_2_counts_unique_bigrams(self):
        # (the cat) (cat the) (the dog): all unique
        assert metrics.distinct_2("the cat the dog") == 1.0
        # a b a b a -> words 2/5; bigrams (a b)(b a)(a b)(b a) -> 2/4
        assert metrics.distinct_1("a b a b a") == 0.4
        assert metrics.distinct_2("a b a b a") == 0.5

    def test_case_and_punctuation_count(self):
        assert metrics.distinct_1("Cat cat cat.") == 1.0

    def test_nothing_to_measure_is_none(self):
        assert metrics.distinct_1("") is None
        assert metrics.distinct_2("one") is None

    def test_ngrams(self):
        assert metrics.ngrams(["a", "b", "c"], 2) == [("a", "b"), ("b", "c")]
        with pytest.raises(ValueError):
            metrics.ngrams(["a"], 0)


class TestRepetition:
    def test_seq_rep_4(self):
        # 4-grams: abcd bcda cdab dabc abcd -> one of five repeats an earlier one
        assert metrics.repetition_rate("a b c d a b c d") == pytest.approx(0.2)

    def test_a_loop_approaches_one(self):
        # "the" x 5: 4-grams (the the the the) twice -> 1 of 2 repeats
        assert metrics.repetition_rate("the the the the the") == 0.5
        assert metrics.repetition_rate(" ".join(["go"] * 103)) == pytest.approx(99 / 100)

    def test_other_n(self):
        assert metrics.repetition_rate("x x x x", n=1) == 0.75

    def test_no_repeat_and_too_short(self):
        assert metrics.repetition_rate("one two three four five") == 0.0
        assert metrics.repetition_rate("one two three") is None


class TestLogprobs:
    def test_mean_and_perplexity(self):
        assert metrics.mean_logprob([-1.0, -2.0, None, -3.0]) == -2.0
        assert metrics.perplexity([-1.0, -2.0, None, -3.0]) == pytest.approx(math.exp(2))

    def test_certainty_is_perplexity_one(self):
        assert metrics.perplexity([0.0, 0.0]) == 1.0

    def test_a_fair_coin_is_perplexity_two(self):
        assert metrics.perplexity([math.log(0.5)] * 3) == pytest.approx(2.0)

    def test_without_logprobs(self):
        assert metrics.mean_logprob(None) is None
        assert metrics.mean_logprob([]) is None
        assert metrics.perplexity([None]) is None

    def test_token_logprobs_of_both_wire_formats(self):
        completions = {"tokens": ["a", "b"], "token_logprobs": [None, -0.5],
                       "top_logprobs": None, "text_offset": [0, 1]}
        chat = {"content": [{"token": "a", "logprob": -0.1}, {"token": "b", "logprob": -0.2}]}
        assert metrics.token_logprobs(completions) == [None, -0.5]
        assert metrics.token_logprobs(chat) == [-0.1, -0.2]
        assert metrics.token_logprobs(None) is None
        assert metrics.token_logprobs({"content": None}) is None


class TestAgreement:
    def test_identical_share_and_similarity(self):
        # pairs (a,a) (a,b) (a,b): one identical; similarities 1, 0, 0
        result = metrics.agreement(["a", "a", "b"])
        assert result.identical_share == pytest.approx(1 / 3)
        assert result.mean_similarity == pytest.approx(1 / 3)
        assert result.pairs == 3

    def test_similarity_is_sequence_matcher_ratio(self):
        # 3 matching characters of 4 + 4: 2 * 3 / 8
        assert metrics.similarity("abcd", "abce") == 0.75
        result = metrics.agreement(["abcd", "abce"])
        assert (result.identical_share, result.mean_similarity) == (0.0, 0.75)

    def test_one_sample_has_no_agreement(self):
        assert metrics.agreement(["only"]) == metrics.Agreement(None, None, 0)
        assert metrics.agreement([]).pairs == 0

    def test_all_identical(self):
        result = metrics.agreement(["same text"] * 4)
        assert (result.identical_share, result.mean_similarity, result.pairs) == (1.0, 1.0, 6)


def test_text_metrics_record():
    record = metrics.text_metrics("a b a b a", tokens=5, logprobs=[-1.0, -1.0])
    assert record.as_dict() == {
        "chars": 9, "words": 5, "tokens": 5, "distinct_1": 0.4, "distinct_2": 0.5,
        "repetition": 0.0, "mean_logprob": -1.0, "perplexity": pytest.approx(math.e),
    }


texts = st.text(alphabet="ab \n", max_size=40)


@given(texts)
def test_distinct_and_repetition_bounds(text):
    for value in (metrics.distinct_1(text), metrics.distinct_2(text)):
        assert value is None or 0 < value <= 1
    rep = metrics.repetition_rate(text)
    if rep is not None:
        assert 0 <= rep < 1
        assert rep == pytest.approx(1 - metrics.distinct_n(text, 4))


@given(st.lists(texts, max_size=5))
def test_agreement_bounds(samples):
    result = metrics.agreement(samples)
    if len(samples) < 2:
        assert result.identical_share is None
    else:
        assert 0 <= result.identical_share <= result.mean_similarity + 1e-12 <= 1 + 1e-12


class TestDivergence:
    def test_the_same_text_does_not_diverge(self):
        assert metrics.divergence("a b", "a b") is None

    def test_words_when_there_are_no_tokens(self):
        found = metrics.divergence("the cat sat", "the cat ran")
        assert (found.unit, found.position, found.prefix) == ("word", 2, "the cat")
        assert (found.this, found.base) == (" sat", " ran")
        assert found.this_probability is None and found.base_probability is None

    def test_tokens_and_their_probabilities(self):
        found = metrics.divergence("ab!", "ac", this_tokens=["a", "b", "!"],
                                   base_tokens=["a", "c"], this_logprobs=[-0.1, math.log(0.25), -1],
                                   base_logprobs=[-0.1, math.log(0.5)])
        assert (found.unit, found.position, found.prefix, found.this, found.base) == (
            "token", 1, "a", "b", "c")
        assert found.this_probability == pytest.approx(0.25)
        assert found.base_probability == pytest.approx(0.5)

    def test_one_text_ending_first(self):
        found = metrics.divergence("the cat", "the cat sat")
        assert (found.position, found.this, found.base) == (2, None, " sat")

    def test_tokens_that_do_not_spell_the_text_fall_back_to_words(self):
        found = metrics.divergence("a b", "a c", this_tokens=["x"], base_tokens=["y"])
        assert found.unit == "word"

    def test_token_texts_in_both_wire_formats(self):
        assert metrics.token_texts({"tokens": ["a", " b"]}) == ["a", " b"]
        assert metrics.token_texts({"content": [{"token": "a"}, {"token": " b"}]}) == ["a", " b"]
        assert metrics.token_texts(None) is None

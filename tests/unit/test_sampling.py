"""OpenAI-semantics sampling on plain numpy rows: no model involved."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from playground.local import sampling
from playground.local.sampling import Penalties, SamplingSettings, adjust, choose, rng_for


def logits_for(probs: list[float]) -> np.ndarray:
    return np.log(np.array(probs, dtype=np.float64)).astype(np.float32)


def draws(logits: np.ndarray, settings: SamplingSettings, count: int, seed: int = 1234,
          penalties: Penalties | None = None) -> list[int]:
    rng = rng_for(seed, 0)
    adjusted = adjust(logits, settings, penalties or Penalties())
    return [choose(adjusted, settings, rng).token for _ in range(count)]


def reference_nucleus(probs: np.ndarray, top_p: float) -> set[int]:
    order = np.argsort(-probs, kind="stable")
    cumulative = np.cumsum(probs[order])
    keep = next(i for i, c in enumerate(cumulative) if c >= top_p) + 1
    return set(order[:keep].tolist())


class TestTemperature:
    def test_zero_is_argmax_whatever_the_generator(self):
        logits = np.array([0.1, 2.5, 2.4, -1.0, 2.49], dtype=np.float32)
        settings = SamplingSettings(temperature=0.0)
        for seed in range(20):
            assert choose(logits, settings, rng_for(seed, 0)).token == 1
        assert choose(logits, SamplingSettings(temperature=0.0, top_p=0.01),
                      np.random.default_rng()).token == 1

    def test_zero_picks_the_argmax_after_bias_and_penalties(self):
        logits = np.array([3.0, 2.0, 1.0], dtype=np.float32)
        settings = SamplingSettings(temperature=0.0, logit_bias={2: 2.5})
        assert draws(logits, settings, 5) == [2] * 5
        penalties = Penalties()
        penalties.add(0)
        settings = SamplingSettings(temperature=0.0, presence_penalty=1.5)
        assert draws(logits, settings, 1, penalties=penalties) == [1]

    @pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
    def test_frequencies_follow_softmax_of_logits_over_temperature(self, temperature):
        logits = np.array([0.0, np.log(3.0), -1.0], dtype=np.float32)
        expected = np.exp(logits / temperature)
        expected /= expected.sum()
        counts = Counter(draws(logits, SamplingSettings(temperature=temperature), 8000))
        for token in range(3):
            assert abs(counts[token] / 8000 - expected[token]) < 0.025, (token, counts)


class TestTopP:
    def test_only_the_nucleus_is_ever_drawn(self):
        probs = [0.5, 0.3, 0.1, 0.06, 0.04]
        counts = Counter(draws(logits_for(probs), SamplingSettings(top_p=0.75), 5000))
        assert set(counts) == {0, 1}
        # renormalised inside the nucleus: 0.5 / 0.8 and 0.3 / 0.8
        assert abs(counts[0] / 5000 - 0.625) < 0.03

    def test_the_token_that_crosses_top_p_is_kept(self):
        probs = [0.5, 0.3, 0.1, 0.06, 0.04]
        counts = Counter(draws(logits_for(probs), SamplingSettings(top_p=0.85), 5000))
        assert set(counts) == {0, 1, 2}

    def test_top_p_zero_keeps_only_the_best_token(self):
        probs = [0.2, 0.25, 0.3, 0.25]
        assert set(draws(logits_for(probs), SamplingSettings(top_p=0.0), 500)) == {2}

    def test_top_p_one_can_draw_every_token(self):
        probs = [0.4, 0.3, 0.2, 0.1]
        assert set(draws(logits_for(probs), SamplingSettings(top_p=1.0), 2000)) == {0, 1, 2, 3}

    def test_top_p_applies_after_temperature(self):
        # At temperature 1 the best token alone holds 0.6 >= top_p; at 2 the distribution
        # flattens and the nucleus must grow to two tokens.
        logits = logits_for([0.6, 0.3, 0.1])
        assert set(draws(logits, SamplingSettings(temperature=1.0, top_p=0.55), 2000)) == {0}
        assert set(draws(logits, SamplingSettings(temperature=2.0, top_p=0.55), 2000)) == {0, 1}

    @pytest.mark.parametrize("top_p", [0.3, 0.9])
    def test_large_vocabulary_beyond_the_candidate_window(self, top_p):
        # A near-flat distribution over 5000 tokens: the nucleus holds thousands of tokens,
        # more than the first candidate window, so the full-sort path must be right too.
        rng = np.random.default_rng(0)
        logits = rng.normal(0.0, 0.05, 5000).astype(np.float32)
        probs = np.exp(logits.astype(np.float64) - logits.max())
        probs /= probs.sum()
        allowed = reference_nucleus(probs, top_p)
        assert len(allowed) > 1024
        assert set(sampling._nucleus(probs, top_p).tolist()) == allowed
        drawn = draws(logits, SamplingSettings(top_p=top_p), 600)
        assert set(drawn) <= allowed
        assert len(set(drawn)) > 200

    def test_nucleus_matches_the_reference_on_random_rows(self):
        rng = np.random.default_rng(5)
        for _ in range(50):
            logits = rng.normal(0, 3, 300)
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            top_p = float(rng.uniform(0.05, 0.99))
            assert set(sampling._nucleus(probs, top_p).tolist()) == reference_nucleus(probs, top_p)


class TestLogitBias:
    def test_minus_100_bans_the_best_token(self):
        logits = logits_for([0.9, 0.05, 0.05])
        drawn = draws(logits, SamplingSettings(logit_bias={0: -100}), 3000)
        assert 0 not in drawn and set(drawn) == {1, 2}

    def test_plus_100_forces_an_unlikely_token(self):
        logits = logits_for([0.97, 0.01, 0.01, 0.01])
        for temperature in (0.0, 1.0, 2.0):
            settings = SamplingSettings(temperature=temperature, logit_bias={3: 100})
            assert set(draws(logits, settings, 1000)) == {3}

    def test_bias_is_added_to_the_named_tokens_only(self):
        logits = np.zeros(4, dtype=np.float32)
        adjusted = adjust(logits, SamplingSettings(logit_bias={1: 2.5, 3: -1.0}), Penalties())
        np.testing.assert_allclose(adjusted, [0.0, 2.5, 0.0, -1.0])
        assert not logits.any(), "the raw logits are not modified"


class TestPenalties:
    def test_openai_formula_on_known_numbers(self):
        penalties = Penalties()
        for token in [1, 1, 1, 3, 4, 4]:
            penalties.add(token)
        logits = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], dtype=np.float32)
        settings = SamplingSettings(frequency_penalty=0.5, presence_penalty=0.25)
        adjusted = adjust(logits, settings, penalties)
        # logit[j] - count[j] * 0.5 - (count[j] > 0) * 0.25
        np.testing.assert_allclose(adjusted, [1.0, 1 - 1.5 - 0.25, 1.0, 1 - 0.5 - 0.25,
                                              1 - 1.0 - 0.25, 1.0], rtol=1e-6)

    def test_negative_penalties_encourage_repeats(self):
        penalties = Penalties()
        penalties.add(2)
        penalties.add(2)
        adjusted = adjust(np.zeros(3, dtype=np.float32),
                          SamplingSettings(frequency_penalty=-1.0, presence_penalty=-2.0),
                          penalties)
        np.testing.assert_allclose(adjusted, [0.0, 0.0, 4.0])

    def test_zero_penalties_change_nothing(self):
        penalties = Penalties()
        penalties.add(0)
        logits = np.array([0.5, -0.5], dtype=np.float32)
        np.testing.assert_array_equal(adjust(logits, SamplingSettings(), penalties), logits)

    def test_penalties_count_every_token_not_a_window(self):
        penalties = Penalties()
        penalties.add(7)
        for _ in range(200):
            penalties.add(8)
        adjusted = adjust(np.zeros(10, dtype=np.float32),
                          SamplingSettings(frequency_penalty=0.1), penalties)
        assert adjusted[7] == pytest.approx(-0.1)
        assert adjusted[8] == pytest.approx(-20.0)


class TestWhatWasDrawnFrom:
    """``Draw.distribution``: the debug_distribution extension's report of a draw."""

    def test_temperature_zero_reports_the_argmax_as_certain(self):
        drawn = choose(logits_for([0.2, 0.5, 0.3]), SamplingSettings(temperature=0.0),
                       rng_for(1, 0))
        assert drawn.distribution() == [(1, 1.0)]

    def test_the_nucleus_renormalised_most_likely_first(self):
        settings = SamplingSettings(top_p=0.85)
        drawn = choose(logits_for([0.1, 0.5, 0.06, 0.3, 0.04]), settings, rng_for(1, 0))
        assert [t for t, _ in drawn.distribution()] == [1, 3, 0]
        assert [p for _, p in drawn.distribution()] == pytest.approx([5 / 9, 3 / 9, 1 / 9])
        assert drawn.token in {1, 3, 0}

    def test_top_p_one_reports_every_token_it_could_draw(self):
        logits = logits_for([0.1, 0.4, 0.2, 0.3])
        logits[2] = -np.inf  # ruled out (as a grammar rules tokens out): never drawn
        drawn = choose(logits, SamplingSettings(temperature=0.5), rng_for(1, 0))
        assert [t for t, _ in drawn.distribution()] == [1, 3, 0]
        assert [p for _, p in drawn.distribution()] == pytest.approx([16 / 26, 9 / 26, 1 / 26])

    def test_reporting_leaves_the_draw_as_it_was(self):
        logits = np.random.default_rng(4).normal(0, 2, 3000).astype(np.float32)
        settings = SamplingSettings(temperature=0.8, top_p=0.9)
        rng, again = rng_for(7, 0), rng_for(7, 0)
        for _ in range(50):
            drawn = choose(logits, settings, rng)
            assert drawn.token in {t for t, _ in drawn.distribution()}
            assert sum(p for _, p in drawn.distribution()) == pytest.approx(1.0)
            assert choose(logits, settings, again).token == drawn.token


class TestSeeds:
    def test_same_seed_same_draws(self):
        logits = np.random.default_rng(1).normal(0, 1, 1000).astype(np.float32)
        settings = SamplingSettings(temperature=1.3, top_p=0.9)
        assert draws(logits, settings, 200, seed=42) == draws(logits, settings, 200, seed=42)
        assert draws(logits, settings, 200, seed=42) != draws(logits, settings, 200, seed=43)

    def test_each_choice_has_its_own_stream(self):
        first = rng_for(42, 0).random(5).tolist()
        assert first == rng_for(42, 0).random(5).tolist()
        assert first != rng_for(42, 1).random(5).tolist()

    def test_huge_and_negative_seeds_are_accepted(self):
        assert rng_for(2**63 - 1, 0).random() == rng_for(2**63 - 1, 0).random()
        assert rng_for(-5, 0).random() == rng_for(-5, 0).random()

    def test_no_seed_is_fresh_entropy(self):
        assert rng_for(None, 0).random(4).tolist() != rng_for(None, 0).random(4).tolist()


class TestLogProbabilities:
    @pytest.mark.parametrize("scale", [1.0, 50.0, 1000.0])
    def test_log_softmax_is_a_distribution(self, scale):
        logits = (np.random.default_rng(3).normal(0, 1, 2000) * scale).astype(np.float32)
        logprobs = sampling.log_softmax(logits)
        assert np.isfinite(logprobs).all() and (logprobs <= 0).all()
        assert np.exp(logprobs.astype(np.float64)).sum() == pytest.approx(1.0, abs=1e-4)

    def test_log_softmax_known_values_and_shift_invariance(self):
        logits = np.log(np.array([0.5, 0.25, 0.25], dtype=np.float32))
        np.testing.assert_allclose(sampling.log_softmax(logits), np.log([0.5, 0.25, 0.25]),
                                   rtol=1e-6)
        np.testing.assert_allclose(sampling.log_softmax(logits + 100), sampling.log_softmax(logits),
                                   atol=1e-5)

    def test_top_alternatives_best_first(self):
        logprobs = np.log(np.array([0.1, 0.4, 0.05, 0.3, 0.15]))
        top = sampling.top_alternatives(logprobs, 3)
        assert [token for token, _ in top] == [1, 3, 4]
        assert [value for _, value in top] == pytest.approx(np.log([0.4, 0.3, 0.15]).tolist())
        assert all(isinstance(token, int) and isinstance(value, float) for token, value in top)

    @pytest.mark.parametrize("size, k", [(49152, 1), (49152, 5), (49152, 20), (1000, 500)])
    def test_top_alternatives_are_the_true_top_k_in_order(self, size, k):
        logprobs = sampling.log_softmax(np.random.default_rng(11).normal(0, 2, size))
        top = sampling.top_alternatives(logprobs, k)
        assert [t for t, _ in top] == np.argsort(-logprobs, kind="stable")[:k].tolist()
        assert [v for _, v in top] == sorted((v for _, v in top), reverse=True)

    def test_top_alternatives_of_zero_and_of_everything(self):
        logprobs = sampling.log_softmax(np.random.default_rng(9).normal(0, 1, 50))
        assert sampling.top_alternatives(logprobs, 0) == []
        every = sampling.top_alternatives(logprobs, 50)
        assert [t for t, _ in every] == np.argsort(-logprobs, kind="stable").tolist()
        values = [v for _, v in every]
        assert values == sorted(values, reverse=True)

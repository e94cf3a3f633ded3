"""The distribution formulas, step by step, and their equality with the local server's sampler."""

from __future__ import annotations

import math

import numpy as np
import pytest

from playground import distribution as dist
from playground.local import sampling

LOGPROBS = np.log(np.array([0.5, 0.3, 0.15, 0.05]))


def test_bias_is_added_to_the_named_tokens_only_and_the_input_is_kept():
    logits = np.array([1.0, 2.0, 3.0])
    assert dist.apply_bias(logits, {0: 5.0, 2: -100.0}).tolist() == [6.0, 2.0, -97.0]
    assert logits.tolist() == [1.0, 2.0, 3.0]


def test_penalties_follow_openais_formula():
    logits = np.zeros(4)
    counts = {0: 0, 1: 1, 2: 3}
    adjusted = dist.apply_penalties(logits, counts, presence=0.5, frequency=0.25)
    assert adjusted.tolist() == [0.0, -0.75, -1.25, 0.0]
    encouraged = dist.apply_penalties(logits, counts, presence=-1.0, frequency=0.0)
    assert encouraged.tolist() == [0.0, 1.0, 1.0, 0.0]
    assert logits.tolist() == [0.0] * 4


def test_temperature_one_gives_back_the_models_distribution():
    assert np.allclose(dist.scale_by_temperature(LOGPROBS, 1.0), [0.5, 0.3, 0.15, 0.05])


def test_temperature_sharpens_below_one_and_flattens_above():
    sharp, own, flat = (dist.scale_by_temperature(LOGPROBS, t) for t in (0.5, 1.0, 2.0))
    assert dist.entropy(sharp) < dist.entropy(own) < dist.entropy(flat)
    assert np.allclose(sharp, np.array([0.5, 0.3, 0.15, 0.05]) ** 2 / np.sum(
        np.array([0.5, 0.3, 0.15, 0.05]) ** 2))


def test_temperature_zero_is_greedy():
    assert dist.scale_by_temperature(np.array([0.1, 3.0, 2.9]), 0).tolist() == [0, 1, 0]


def test_a_constant_shift_changes_nothing():
    """Log-probabilities and logits differ by a constant: the steps must not see it."""
    assert np.allclose(dist.scale_by_temperature(LOGPROBS + 7.5, 0.7),
                       dist.scale_by_temperature(LOGPROBS, 0.7))


@pytest.mark.parametrize("top_p, kept", [(1.0, 4), (0.96, 4), (0.9, 3), (0.81, 3), (0.8, 2),
                                         (0.5, 1), (0.0, 1)])
def test_the_nucleus_is_the_smallest_set_reaching_top_p(top_p, kept):
    mask = dist.nucleus(np.exp(LOGPROBS), top_p)
    assert mask.tolist() == [i < kept for i in range(4)]


def test_the_nucleus_follows_probability_not_position():
    assert dist.nucleus(np.array([0.1, 0.6, 0.3]), 0.7).tolist() == [False, True, True]


def test_the_sampling_distribution_is_the_nucleus_renormalised():
    probabilities = np.exp(LOGPROBS)
    drawn = dist.sampling_distribution(probabilities, dist.nucleus(probabilities, 0.8))
    assert np.allclose(drawn, [0.625, 0.375, 0, 0])


def test_entropy_in_bits():
    assert dist.entropy(np.array([1.0, 0.0])) == 0.0
    assert dist.entropy(np.full(8, 1 / 8)) == pytest.approx(3.0)


def test_samples_follow_the_distribution_and_stay_inside_the_nucleus():
    probabilities = np.exp(LOGPROBS)
    drawn = dist.sample(probabilities, 1.0, 20_000, np.random.default_rng(0))
    assert np.allclose(np.bincount(drawn, minlength=4) / 20_000, probabilities, atol=0.015)
    cut = dist.sample(probabilities, 0.8, 5_000, np.random.default_rng(0))
    assert set(cut.tolist()) == {0, 1}
    assert np.bincount(cut)[0] / 5_000 == pytest.approx(0.625, abs=0.03)


def test_a_seed_gives_the_same_samples():
    probabilities = np.exp(LOGPROBS)
    first, second = (dist.sample(probabilities, 0.9, 100, np.random.default_rng(42))
                     for _ in range(2))
    assert first.tolist() == second.tolist()


def test_the_chosen_token_joins_the_alternatives_when_the_server_left_it_out():
    alternatives = dist.alternatives_at(" cat", math.log(0.01),
                                        [(" the", math.log(0.6)), (" a", math.log(0.3))])
    assert alternatives.texts == (" the", " a", " cat")
    assert alternatives.chosen == 2
    assert alternatives.known_mass == pytest.approx(0.91)
    assert not alternatives.exact


def test_a_chosen_token_below_the_most_likely_is_a_surprise():
    top = [(" the", math.log(0.6)), (" a", math.log(0.3))]
    assert dist.alternatives_at(" a", math.log(0.3), top).surprising
    assert not dist.alternatives_at(" the", math.log(0.6), top).surprising
    assert not dist.alternatives_at("x", None, top).surprising


def test_alternatives_holding_all_the_probability_are_exact():
    alternatives = dist.alternatives_at("a", math.log(0.75), [("a", math.log(0.75)),
                                                              ("b", math.log(0.25))])
    assert alternatives.exact and alternatives.chosen == 0


def test_a_token_without_a_logprob_is_not_chosen_among_them():
    assert dist.alternatives_at("x", None, [("y", -0.1)]).chosen is None


def test_counts_cover_the_tokens_generated_before_the_position():
    assert dist.counts_before(["a", "b", "a", "c"], 3) == {"a": 2, "b": 1}
    assert dist.counts_before(["a"], 0) == {}


def _alternatives():
    return dist.alternatives_at(" b", LOGPROBS[1], list(zip([" a", " b", " c", " d"], LOGPROBS)))


def test_reshape_at_the_defaults_is_the_reported_distribution():
    shaped = dist.reshape(_alternatives(), dist.Settings())
    assert np.allclose(shaped.distribution, [0.5, 0.3, 0.15, 0.05])
    assert not shaped.moved.any() and shaped.inside_top_p == 4
    assert shaped.chosen_probability == pytest.approx(0.3)


def test_reshape_moves_a_biased_and_a_penalised_token_and_keeps_their_before():
    settings = dist.Settings(presence_penalty=1.0, frequency_penalty=0.5, bias={" d": 2.0})
    shaped = dist.reshape(_alternatives(), settings, counts={" a": 2})
    assert shaped.moved.tolist() == [True, False, False, True]
    assert np.allclose(shaped.before, [0.5, 0.3, 0.15, 0.05])
    logits = LOGPROBS + np.array([-2.0, 0, 0, 2.0])
    assert np.allclose(shaped.after, np.exp(logits) / np.exp(logits).sum())


def test_bias_on_a_text_the_server_did_not_list_is_reported_unmatched():
    shaped = dist.reshape(_alternatives(), dist.Settings(bias={" zebra": 5.0}))
    assert shaped.unmatched_bias == (" zebra",)
    assert not shaped.moved.any()


def test_reshape_with_temperature_zero_and_top_p():
    greedy = dist.reshape(_alternatives(), dist.Settings(temperature=0))
    assert greedy.entropy == 0 and greedy.chosen_probability == 0
    cut = dist.reshape(_alternatives(), dist.Settings(top_p=0.75))
    assert cut.kept.tolist() == [True, True, False, False]
    assert cut.chosen_probability == pytest.approx(0.375)



# Tokens the response did not list ----------------------------------------------------------

def test_the_unlisted_weight_is_the_rest_at_temperature_one():
    assert dist.unlisted_weight(0.2, math.log(0.05), 1.0) == (math.log(0.2), math.log(0.2))
    assert dist.unlisted_weight(0.0, math.log(0.05), 0.5) == (-math.inf, -math.inf)


def test_the_unlisted_weight_lies_between_its_ends_however_the_rest_is_spread():
    rng = np.random.default_rng(3)
    for temperature in (0.3, 0.7, 1.4, 2.0):
        ends = dist.unlisted_weight(0.2, math.log(0.05), temperature, unlisted=100)
        low, high = sorted(ends)
        for _ in range(20):  # 0.2 over 100 tokens, none above 0.05
            spread = rng.dirichlet(np.full(100, rng.uniform(0.05, 5))) * 0.2
            while spread.max() > 0.05:
                spread = np.minimum(spread, 0.05)
                spread *= 0.2 / spread.sum()
            weight = math.log(np.sum(spread ** (1 / temperature)))
            assert low - 1e-9 <= weight <= high + 1e-9
    # four tokens of 0.05 at one end, a hundred of 0.002 at the other
    assert np.allclose(dist.unlisted_weight(0.2, math.log(0.05), 0.5, unlisted=100),
                       [math.log(4 * 0.05 ** 2), math.log(100 * 0.002 ** 2)])


def test_above_temperature_one_an_unknown_vocabulary_leaves_no_upper_bound():
    assert dist.unlisted_weight(0.2, math.log(0.05), 1.5)[1] == math.inf
    assert dist.unlisted_weight(0.2, math.log(0.05), 0.5)[1] == -math.inf


def test_the_nucleus_is_a_share_of_the_whole_not_of_the_known_tokens():
    known = np.array([0.625, 0.375])  # 0.5 and 0.3 of the whole, renormalised
    assert dist.nucleus(known, 0.6).tolist() == [True, False]
    assert dist.nucleus(known, 0.6, rest=0.25).tolist() == [True, True]
    assert dist.nucleus(known, 0.9, rest=0.25).tolist() == [True, True]


def test_the_floor_is_the_least_likely_listed_token_not_an_added_chosen_one():
    listed = [(" the", math.log(0.6)), (" a", math.log(0.3))]
    assert dist.alternatives_at(" cat", math.log(0.01), listed).floor == math.log(0.3)
    assert dist.alternatives_at(" a", math.log(0.3), listed, vocabulary=50).vocabulary == 50
    assert dist.alternatives_at("x", -1.0, []).floor == 0.0


def _partial(vocabulary=None):
    """0.5, 0.3 and 0.1 known; 0.1 left to tokens of at most 0.1."""
    return dist.alternatives_at(" a", math.log(0.5), [(" a", math.log(0.5)), (" b", math.log(0.3)),
                                                      (" c", math.log(0.1))], vocabulary)


def test_reshape_cuts_at_top_p_of_the_whole_and_says_when_that_is_exact():
    shaped = dist.reshape(_partial(), dist.Settings(top_p=0.75))
    assert shaped.kept.tolist() == [True, True, False] and shaped.exact
    assert np.allclose(shaped.distribution, [0.625, 0.375, 0])
    reaching_unknown = dist.reshape(_partial(), dist.Settings(top_p=0.95))
    assert reaching_unknown.kept.all() and not reaching_unknown.exact
    assert not dist.reshape(_partial(), dist.Settings()).exact  # top_p 1 draws the rest too
    assert dist.reshape(_partial(), dist.Settings(temperature=0)).exact


def test_the_whole_vocabulary_listed_is_exact_at_any_setting():
    whole = dist.alternatives_at(" b", LOGPROBS[1], list(zip([" a", " b", " c", " d"], LOGPROBS)),
                                 vocabulary=4)
    assert dist.reshape(whole, dist.Settings(temperature=2.0)).exact
    assert not dist.reshape(_alternatives(), dist.Settings(temperature=2.0)).exact


def test_above_temperature_one_exactness_needs_the_vocabulary_size():
    settings = dist.Settings(temperature=1.3, top_p=0.25)
    assert not dist.reshape(_partial(), settings).exact
    assert dist.reshape(_partial(vocabulary=1000), settings).exact


def test_moving_a_token_that_is_not_known_makes_the_cut_approximate():
    settings = dist.Settings(top_p=0.75, presence_penalty=-2.0)
    assert dist.reshape(_partial(), settings, counts={" a": 1}).exact
    assert not dist.reshape(_partial(), settings, counts={" zebra": 1}).exact
    assert not dist.reshape(_partial(), dist.Settings(top_p=0.75, bias={" zebra": 5})).exact


# The same formulas as the local server's sampler ---------------------------------------------

def _random_setting(rng: np.random.Generator, vocabulary: int):
    settings = sampling.SamplingSettings(
        temperature=float(rng.choice([0.0, rng.uniform(0.05, 2.0)], p=[0.1, 0.9])),
        top_p=float(rng.choice([1.0, rng.uniform(0.05, 1.0)], p=[0.3, 0.7])),
        presence_penalty=float(rng.uniform(-2, 2)),
        frequency_penalty=float(rng.uniform(-2, 2)),
        logit_bias={int(t): float(rng.uniform(-100, 100))
                    for t in rng.choice(vocabulary, size=rng.integers(0, 4), replace=False)})
    generated = rng.choice(vocabulary, size=int(rng.integers(0, 30))).tolist()
    return settings, generated


@pytest.mark.parametrize("case", range(50))
def test_the_core_draws_from_the_distribution_the_local_server_samples_from(case):
    """On a whole vocabulary of random logits, each step equals the server's within 1e-5,
    and the same seed makes both draw the same tokens."""
    rng = np.random.default_rng(case)
    vocabulary = 2048
    logits = rng.normal(0, 3, vocabulary).astype(np.float32)
    settings, generated = _random_setting(rng, vocabulary)
    penalties = sampling.Penalties()
    for token in generated:
        penalties.add(token)

    served = sampling.adjust(logits, settings, penalties)
    ours = dist.apply_penalties(dist.apply_bias(logits, settings.logit_bias), penalties.counts,
                                presence=settings.presence_penalty,
                                frequency=settings.frequency_penalty)
    assert np.allclose(ours, served, rtol=0, atol=1e-4)  # logits up to ~100: float32's grain
    assert np.allclose(np.exp(sampling.log_softmax(served)),
                       dist.scale_by_temperature(ours, 1.0), rtol=0, atol=1e-5)

    probabilities = dist.scale_by_temperature(ours, settings.temperature)
    kept = dist.nucleus(probabilities, settings.top_p)
    if settings.temperature and settings.top_p < 1:
        scaled = served.astype(np.float64) / settings.temperature
        server_probabilities = np.exp(scaled - scaled.max())
        server_probabilities /= server_probabilities.sum()
        assert set(sampling._nucleus(server_probabilities, settings.top_p).tolist()) == set(
            np.flatnonzero(kept).tolist())
        assert np.allclose(probabilities, server_probabilities, rtol=0, atol=1e-5)

    seed = int(rng.integers(2**32))
    server_rng, our_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    server_draws = [sampling.choose(served, settings, server_rng).token for _ in range(20)]
    our_draws = dist.sample(probabilities, settings.top_p, 20, our_rng).tolist()
    assert server_draws == our_draws
    assert all(kept[token] for token in our_draws)


def test_where_the_core_says_exact_the_top_100_give_what_the_server_samples_from():
    """The server's sampler over a whole vocabulary against the core over its top 100
    log-probabilities, as a response reports them: wherever ``reshape`` calls its cut exact,
    the distribution equals the one the server draws from."""
    rng = np.random.default_rng(18)
    vocabulary, exact = 4096, 0
    for _ in range(200):
        logits = (rng.standard_t(3, vocabulary) * rng.uniform(1, 4)).astype(np.float32)
        settings = sampling.SamplingSettings(temperature=float(rng.uniform(0.05, 2.0)),
                                             top_p=float(rng.uniform(0.05, 1.0)))
        logprobs = sampling.log_softmax(logits)
        top = [(str(token), value) for token, value in sampling.top_alternatives(logprobs, 100)]
        drawn = sampling.choose(logits, settings, np.random.default_rng(0))
        shaped = dist.reshape(dist.alternatives_at(str(drawn.token), float(logprobs[drawn.token]),
                                                   top, vocabulary),
                              dist.Settings(settings.temperature, settings.top_p))
        if shaped.exact:
            exact += 1
            served = dict(drawn.distribution())
            ours = dict(zip(shaped.alternatives.texts, shaped.distribution))
            assert {int(text) for text, p in ours.items() if p > 0} == set(served)
            assert all(abs(ours[str(token)] - p) <= 1e-5 for token, p in served.items())
    assert exact > 100  # most of them

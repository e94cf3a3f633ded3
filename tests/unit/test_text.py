"""TextAssembler: stop sequences across tokens, split UTF-8, and what is held back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playground.local.text import TextAssembler


def feed_all(assembler: TextAssembler, pieces: list[bytes | str]) -> list[str]:
    return [assembler.feed(p.encode() if isinstance(p, str) else p) for p in pieces]


class TestWithoutStops:
    def test_each_piece_is_released_at_once(self):
        assembler = TextAssembler([])
        assert feed_all(assembler, ["Hel", "lo", " world"]) == ["Hel", "lo", " world"]
        assert assembler.finish() == ""
        assert assembler.text == "Hello world" and not assembler.stopped

    def test_empty_stop_strings_are_ignored(self):
        assembler = TextAssembler(["", ""])
        assert feed_all(assembler, ["a", "b"]) == ["a", "b"]
        assert not assembler.stopped


class TestStops:
    def test_a_partial_stop_is_held_back_across_tokens(self):
        assembler = TextAssembler(["\n\n"])
        assert assembler.feed(b"Hello\n") == "Hello"
        assert assembler.released == 5
        assert assembler.feed(b"\nWorld") == ""
        assert assembler.stopped
        assert assembler.text == "Hello"
        assert assembler.finish() == ""

    def test_a_stop_spanning_three_tokens(self):
        assembler = TextAssembler(["<|end|>"])
        assert feed_all(assembler, ["Done<", "|en", "d|", ">more"]) == ["Done", "", "", ""]
        assert assembler.stopped and assembler.text == "Done"

    def test_held_text_that_does_not_become_a_stop_is_released_later(self):
        assembler = TextAssembler(["STOP"])
        assert assembler.feed(b"a ST") == "a "
        assert assembler.feed(b"O") == ""
        assert assembler.feed(b"P!") == ""  # completed: stop found
        assert assembler.text == "a "

        assembler = TextAssembler(["STOP"])
        assert feed_all(assembler, ["a ST", "O", "NE"]) == ["a ", "", "STONE"]
        assert not assembler.stopped

    def test_the_stop_text_is_never_released(self):
        assembler = TextAssembler(["###"])
        released = "".join(feed_all(assembler, ["x#", "#", "#", "y"])) + assembler.finish()
        assert released == "x" and "#" not in released

    def test_stop_at_the_very_start(self):
        assembler = TextAssembler(["\n"])
        assert assembler.feed(b"\nanything") == ""
        assert assembler.stopped and assembler.text == ""

    def test_text_before_a_stop_inside_one_piece_is_released(self):
        assembler = TextAssembler(["END"])
        assert assembler.feed(b"the END of it") == "the "
        assert assembler.feed(b"more") == ""
        assert assembler.text == "the "

    def test_the_earliest_of_several_stops_wins(self):
        assembler = TextAssembler(["world", "lo"])
        assert assembler.feed(b"hello world") == "hel"

    def test_the_longest_possible_prefix_is_held(self):
        # "ab" could still become "abc" even though "b" alone is no prefix of anything
        assembler = TextAssembler(["abc", "bx"])
        assert assembler.feed(b"zab") == "z"
        assert assembler.feed(b"d") == "abd"

    def test_finish_releases_a_held_partial_stop(self):
        assembler = TextAssembler(["END"])
        assert assembler.feed(b"The EN") == "The "
        assert assembler.finish() == "EN"
        assert assembler.text == "The EN" and not assembler.stopped

    def test_nothing_more_after_a_stop(self):
        assembler = TextAssembler(["."])
        assembler.feed(b"One. Two")
        assert assembler.feed(b" three") == "" and assembler.finish() == ""
        assert assembler.text == "One"


class TestUtf8:
    def test_a_character_split_over_two_pieces(self):
        assembler = TextAssembler([])
        assert feed_all(assembler, [b"caf\xc3", b"\xa9!"]) == ["caf", "é!"]

    def test_an_emoji_split_over_four_pieces(self):
        data = "😀".encode()
        assembler = TextAssembler([])
        assert feed_all(assembler, [data[:1], data[1:2], data[2:3], data[3:]]) == ["", "", "", "😀"]
        assert assembler.text == "😀"

    def test_a_multibyte_stop_split_inside_a_character(self):
        stop = "→END".encode()
        assembler = TextAssembler(["→END"])
        released = feed_all(assembler, [b"go " + stop[:1], stop[1:2], stop[2:], b" after"])
        assert "".join(released) == "go "
        assert assembler.stopped and assembler.text == "go "

    def test_finish_flushes_an_incomplete_character_as_a_replacement(self):
        assembler = TextAssembler([])
        assert assembler.feed(b"ok\xe2\x82") == "ok"
        assert assembler.finish() == "\ufffd"

    def test_invalid_bytes_do_not_raise(self):
        assembler = TextAssembler([])
        assert assembler.feed(b"\xff a") == "\ufffd a"


# -- property: streaming through the assembler is the same as cutting the whole text -------

_alphabet = st.sampled_from(["a", "b", "c", " ", "\n", "é", "→", "😀"])
_text = st.lists(_alphabet, max_size=40).map("".join)
_stop = st.lists(_alphabet, min_size=1, max_size=4).map("".join)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


@settings(max_examples=400, deadline=None)
@given(text=_text, stops=st.lists(_stop, max_size=3),
       cuts=st.lists(st.integers(0, 200), max_size=12))
def test_streaming_matches_the_whole_text_and_never_leaks_a_stop(text, stops, cuts):
    assembler = TextAssembler(stops)
    released: list[str] = []
    seen = b""
    for piece in _split(text.encode(), cuts):
        released.append(assembler.feed(piece))
        seen += piece
        so_far = "".join(released)
        # what was released is a prefix of the text, and never contains a stop
        assert text.startswith(so_far)
        assert not any(stop in so_far for stop in stops)
        if not assembler.stopped:
            # held back: only a tail that could still grow into a stop
            held = seen.decode(errors="ignore")[len(so_far):]
            assert held == "" or any(stop.startswith(held) and stop != held for stop in stops)
    released.append(assembler.finish())
    final = "".join(released)

    assert final == assembler.text
    assert not any(stop in final for stop in stops)
    if assembler.stopped:
        rest = text[len(final):]
        assert text.startswith(final) and any(rest.startswith(stop) for stop in stops)
    else:
        assert final == text
        assert not any(stop in text for stop in stops)


@pytest.mark.parametrize("stop", ["\n", "ab", "😀x"])
@given(text=_text, cuts=st.lists(st.integers(0, 200), max_size=12))
def test_with_one_stop_the_text_ends_right_before_its_first_occurrence(stop, text, cuts):
    assembler = TextAssembler([stop])
    for piece in _split(text.encode(), cuts):
        assembler.feed(piece)
    assembler.finish()
    index = text.find(stop)
    assert assembler.text == (text if index < 0 else text[:index])
    assert assembler.stopped == (index >= 0)

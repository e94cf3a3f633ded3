"""The token probability view: colours, alternatives, the echoed prompt, and escaping."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

from streamlit.testing.v1 import AppTest

from ui import token_view

HOSTILE = '<script>alert("x")</script>'


class Spans(HTMLParser):
    """The token spans of the view: their classes, title and text, as a browser reads them."""

    def __init__(self, html: str):
        super().__init__()
        self.spans: list[dict] = []
        self.tags: list[str] = []
        self._open: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "span" and "token" in (attrs.get("class") or "").split():
            self._open = {"class": attrs["class"], "title": attrs.get("title"),
                          "style": attrs.get("style"), "text": ""}
            self.spans.append(self._open)

    def handle_endtag(self, tag):
        if tag == "span":
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data


def test_each_token_is_coloured_by_its_probability():
    rows = [("sure", math.log(0.95), {}), ("likely", math.log(0.6), {}),
            ("maybe", math.log(0.3), {}), ("odd", math.log(0.1), {}),
            ("rare", math.log(0.01), {}), ("none", None, {})]
    spans = Spans(token_view.token_html(rows)).spans
    colours = [re.search(r"background: (#\w+)", s["style"]).group(1) for s in spans]
    assert colours == [colour for _, colour, _ in token_view.BANDS] + [token_view.UNKNOWN]
    assert [s["text"] for s in spans] == ["sure", "likely", "maybe", "odd", "rare", "none"]


def test_the_title_gives_the_probability_and_the_alternatives_most_likely_first():
    rows = [(" Paris", math.log(0.5), {" London": math.log(0.1), " Paris": math.log(0.5)})]
    (span,) = Spans(token_view.token_html(rows)).spans
    assert span["title"] == ("' Paris'\np = 50.0%, log-probability -0.693\n"
                             "Most likely here:\n  ' Paris'  50.0%\n  ' London'  10.0%")


def test_line_breaks_and_empty_tokens_are_visible():
    spans = Spans(token_view.token_html([("\n\n", -0.1, ()), ("", None, ())])).spans
    assert [s["text"] for s in spans] == ["↵\n↵\n", "∅"]
    assert spans[0]["title"].startswith("'\\n\\n'")


def test_the_echoed_prompt_is_drawn_apart():
    rows = [("Say", None, ()), (":", -1.0, ()), (" hi", -0.5, ())]
    html = token_view.token_html(rows, echo_boundary=2)
    spans = Spans(html).spans
    assert [s["class"] for s in spans] == ["token echo", "token echo", "token generated"]
    assert "(prompt)" in spans[0]["title"] and "(prompt)" not in spans[2]["title"]
    assert "echoed prompt" in html
    assert "echoed prompt" not in token_view.token_html(rows)


def test_model_output_is_never_markup():
    rows = [(HOSTILE, -0.1, {HOSTILE: -0.1, '"><img src=x onerror=alert(1)>': -2.0}),
            ("&amp;", -0.2, ())]
    parser = Spans(token_view.token_html(rows))
    assert set(parser.tags) == {"div", "span"}  # no script, no img: only the view's own tags
    assert [s["text"] for s in parser.spans] == [HOSTILE, "&amp;"]
    assert HOSTILE in parser.spans[0]["title"]
    assert '"><img src=x onerror=alert(1)>' in parser.spans[0]["title"]


def _view(tokens, echo_boundary):
    from ui import token_view

    token_view.render(tokens, echo_boundary=echo_boundary)


def test_render_shows_the_view_and_the_generated_tokens_mean_and_perplexity():
    tokens = [("Hi", None, ()), ("<script>", math.log(0.5), {"<script>": math.log(0.5)}),
              ("!", math.log(0.25), ())]
    at = AppTest.from_function(_view, args=(tokens, 1)).run()
    assert not at.exception
    (html,) = at.get("html")
    assert "&lt;script&gt;" in html.value and "<script>" not in html.value
    # generated tokens only: mean of ln 0.5 and ln 0.25, perplexity exp(-mean) = 2.83
    (caption,) = at.caption
    assert caption.value == ("2 generated tokens · mean log-probability -1.040 · "
                             "perplexity 2.83 (1 = the model was sure of every token)")


def test_render_without_logprobs_says_so():
    at = AppTest.from_function(_view, args=([], 0)).run()
    assert not at.get("html")
    assert at.caption[0].value == "No token log-probabilities in this response."

"""The distribution view in a real browser: open it at a token of a Completions run, move
the temperature slider, and watch the chart change with no new request."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from e2e.streamlit_page import ROOT, settle

# The heights of every bar the chart draws, as plotly.js holds them once decoded; null while
# the chart is being redrawn (plotly.js has not decoded its data yet).
BAR_HEIGHTS = """element => {
    const plot = element.querySelector('.js-plotly-plot');
    if (!plot || !plot._fullData) return null;
    return plot._fullData.filter(trace => trace.type === 'bar')
        .flatMap(trace => Array.from(trace.y));
}"""


def bar_heights(page: Page, seconds: float = 20) -> list[float]:
    """The bar heights, once the chart is drawn (a redraw in progress is waited out)."""
    chart = page.get_by_test_id("stPlotlyChart").first
    expect(chart.locator(".js-plotly-plot")).to_be_visible()
    deadline = time.monotonic() + seconds
    while (heights := chart.evaluate(BAR_HEIGHTS)) is None:
        assert time.monotonic() < deadline, "the chart was never drawn"
        page.wait_for_timeout(100)
    return heights


def changed_heights(page: Page, before: list[float], seconds: float = 20) -> list[float]:
    """The bar heights once they differ from ``before`` (the redraw may lag the slider)."""
    deadline = time.monotonic() + seconds
    heights = bar_heights(page)
    while heights == before and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        heights = bar_heights(page)
    return heights


def test_the_temperature_slider_reshapes_the_chart_without_a_request(page: Page):
    prompt = page.get_by_role("textbox", name="Prompt", exact=True)
    prompt.fill("The capital of France is")
    page.get_by_role("spinbutton", name="Max tokens", exact=True).fill("6")
    page.get_by_text("More parameters").click()
    page.get_by_role("spinbutton", name="Seed", exact=True).fill("1")
    page.get_by_role("spinbutton", name="Log-probabilities", exact=True).fill("5")
    prompt.press("Control+Enter")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("mean log-probability")).to_be_visible(timeout=120_000)
    settle(page)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("This session: 1 request", exact=False)).to_be_visible()

    main.get_by_text("Next-token distribution", exact=True).click()
    settle(page)
    expect(main.get_by_text("Showing the next token after the prompt.")).to_be_visible()
    before = bar_heights(page)
    assert 2 <= len(before) <= 6 and abs(sum(before) - 1) < 1e-6

    temperature = main.get_by_role("slider", name="Temperature").last
    temperature.focus()
    for _ in range(14):  # from 1.0 down to 0.3, one 0.05 step a key
        temperature.press("ArrowLeft")
    expect(temperature).to_have_value("0.3")
    settle(page)
    after = changed_heights(page, before)
    assert max(after) > max(before)
    assert sorted(after, reverse=True) == after
    expect(sidebar.get_by_text("This session: 1 request", exact=False)).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)

    shots = ROOT / "test-results"
    shots.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 1400})
    chart = page.get_by_test_id("stPlotlyChart").first
    settle(page)
    expect(chart).to_be_visible()  # redrawn for the new width: the old element is gone
    chart.scroll_into_view_if_needed()
    page.screenshot(path=shots / "distribution-view.png")

"""Waiting on a Streamlit page in Chromium: shared by every browser test."""

from __future__ import annotations

from playwright.sync_api import Page, expect

# The app is idle (its script finished) once this matches; assert only after it does.
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def settle(page: Page, timeout_ms: int = 60_000) -> None:
    page.wait_for_selector(IDLE, timeout=timeout_ms)


def open_page(page: Page, title: str, timeout_ms: int = 60_000) -> None:
    """Follow the sidebar link to a page and wait until it has drawn."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    settle(page, timeout_ms)

"""The Chat page in a real browser: a conversation with the local model survives a reload
and can be reopened from the saved conversations."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.streamlit_page import settle

QUESTIONS = ("Who won the world series in 2020?", "Where was it played?", "Who was the MVP?")


def facts(page: Page, position: int):
    """The facts line under the message at this position (drawn once its reply is kept)."""
    return page.get_by_test_id("stChatMessage").nth(position - 1).get_by_text(
        re.compile(rf"^#{position} "))


def set_system(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="System message")
    box.fill(text)
    box.press("Control+Enter")  # commits the text area, like leaving it
    settle(page)


def test_three_turns_edit_the_system_regenerate_reload_and_reopen(page: Page):
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Chat").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Chat")
    settle(page)
    page.get_by_role("spinbutton", name="Max tokens", exact=True).fill("12")
    page.get_by_role("spinbutton", name="Max tokens", exact=True).press("Enter")
    settle(page)
    set_system(page, "You are a helpful assistant.")

    for turn, question in enumerate(QUESTIONS):
        page.get_by_test_id("stChatInputTextArea").fill(question)
        page.get_by_test_id("stChatInputTextArea").press("Enter")
        expect(facts(page, 2 * turn + 2)).to_contain_text("assistant")
        settle(page)
    messages = page.get_by_test_id("stChatMessage")
    expect(messages).to_have_count(6)
    expect(messages.nth(4)).to_contain_text(QUESTIONS[2])

    # A longer system message: the regenerated reply's prompt, as the server counts it, grows.
    before = facts(page, 6).inner_text()
    set_system(page, "You are a sports historian. Answer in one short sentence, and be exact.")
    page.get_by_role("button", name="Regenerate").click()
    expect(facts(page, 6)).not_to_have_text(before)
    settle(page)
    expect(messages).to_have_count(6)
    prompt = re.compile(r"prompt (\d+) tokens")
    assert int(prompt.search(facts(page, 6).inner_text())[1]) > int(prompt.search(before)[1])

    page.reload()  # the address names the open conversation, so a reload reopens it
    settle(page)
    expect(page.get_by_test_id("stChatMessage")).to_have_count(6)
    expect(page.get_by_role("textbox", name="System message")).to_have_value(
        "You are a sports historian. Answer in one short sentence, and be exact.")

    page.get_by_test_id("stSidebar").get_by_role("button", name="New conversation").click()
    settle(page)
    expect(page.get_by_test_id("stChatMessage")).to_have_count(0)
    page.get_by_test_id("stSidebar").get_by_role(
        "button", name=re.compile(re.escape(QUESTIONS[0]))).click()
    settle(page)
    expect(page.get_by_test_id("stChatMessage")).to_have_count(6)
    expect(page.get_by_role("textbox", name="System message")).to_have_value(
        "You are a sports historian. Answer in one short sentence, and be exact.")
    for turn, question in enumerate(QUESTIONS):
        expect(page.get_by_test_id("stChatMessage").nth(2 * turn)).to_contain_text(question)
    expect(page.get_by_test_id("stException")).to_have_count(0)

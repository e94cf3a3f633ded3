"""The optional shared password: without one the app opens as before; with one, a session
sees nothing but the prompt until it gives the right password."""

from __future__ import annotations

import pytest
from streamlit.proto.TextInput_pb2 import TextInput as TextInputProto
from streamlit.testing.v1 import AppTest

from ui.common import access, pages, state

APP = str(pages.__file__).replace("ui/common/pages.py", "app.py")
PASSWORD = "correct horse battery staple"


@pytest.fixture
def start(local_env, data_dir, clean_environment, navigation_mode):
    """A fresh session of the app, its first run done."""
    def started(**secrets) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=120)
        for name, value in secrets.items():
            at.secrets[name] = value
        return at.run()
    return started


@pytest.fixture
def locked(start, monkeypatch) -> AppTest:
    monkeypatch.setenv(access.PASSWORD_VARIABLE, PASSWORD)
    return start()


def give(at: AppTest, password: str) -> AppTest:
    at.text_input[0].input(password)
    next(b for b in at.button if b.label == "Open the playground").click()
    return at.run()


def only_the_prompt(at: AppTest) -> None:
    """Nothing of any page: the title, the one password field and its button, an error."""
    assert not at.exception, at.exception
    assert [title.value for title in at.title] == ["Parameter playground"]
    (field,) = at.text_input
    assert field.label == "Password" and field.proto.type == TextInputProto.PASSWORD
    assert [button.label for button in at.button] == ["Open the playground"]
    assert not at.sidebar.children
    assert not at.selectbox and not at.text_area and not at.chat_input


def test_without_a_password_the_pages_render_as_before(start, monkeypatch):
    monkeypatch.delenv(access.PASSWORD_VARIABLE, raising=False)
    at = start()
    assert [title.value for title in at.title] == ["Completions"]
    assert at.sidebar.children and at.sidebar.selectbox(key=state.CONNECTION_NAME).value
    assert not [field for field in at.text_input if field.label == "Password"]


def test_with_a_password_nothing_but_the_prompt_until_it_is_given(locked):
    only_the_prompt(locked)
    assert state.CONNECTION_NAME not in locked.session_state  # no page ran, not even hidden
    locked.switch_page(pages.USAGE).run()  # a link to a page shows the prompt too
    only_the_prompt(locked)

    give(locked, PASSWORD)
    assert not locked.exception, locked.exception
    assert [title.value for title in locked.title] == ["Usage"]  # the page the link named
    assert locked.sidebar.selectbox(key=state.CONNECTION_NAME).value == "Local models"
    locked.switch_page(pages.CHAT).run()
    assert [title.value for title in locked.title] == ["Chat"]  # remembered by the session


def test_a_wrong_password_is_refused_and_shows_nothing_else(locked):
    for wrong in ("", "correct horse", PASSWORD.upper(), PASSWORD + " ", "pässwört"):
        give(locked, wrong)
        only_the_prompt(locked)
        assert [error.value for error in locked.error] == [access.WRONG]
    give(locked, PASSWORD)
    assert [title.value for title in locked.title] == ["Completions"]


def test_the_password_may_come_from_secrets_toml(start, monkeypatch):
    monkeypatch.delenv(access.PASSWORD_VARIABLE, raising=False)
    at = start(**{access.PASSWORD_VARIABLE: "from secrets, ünïcode"})
    only_the_prompt(at)
    give(at, PASSWORD)
    only_the_prompt(at)
    give(at, "from secrets, ünïcode")
    assert [title.value for title in at.title] == ["Completions"]


def test_changing_the_password_locks_out_sessions_that_gave_the_old_one(locked, monkeypatch):
    give(locked, PASSWORD)
    assert [title.value for title in locked.title] == ["Completions"]
    monkeypatch.setenv(access.PASSWORD_VARIABLE, "a new one")
    locked.run()
    only_the_prompt(locked)


@pytest.mark.parametrize("typed, expected, same", [
    ("abc", "abc", True), ("abc", "abd", False), ("", "abc", False), ("ab", "abc", False),
    ("ünï", "ünï", True), ("ünï", "uni", False),
])
def test_matches(typed, expected, same):
    assert access.matches(typed, expected) is same

"""The Chat page: sending, editing, regenerating, branching, the budget, saved conversations.

Most tests talk to a fault server whose replies are predictable (and which has no tokenizer,
so counts are estimates and every budget figure is exact arithmetic); one holds a real turn
with the local model, whose tokenizer counts exactly.
"""

from __future__ import annotations

import itertools
import json

import pytest
from streamlit.testing.v1 import AppTest

from fault_server import FaultServer
from playground.conversations import ConversationStore
from ui.chat import keys as chat_keys
from ui.common import params, state

ENDPOINT = "chat"
MODELS = ("fault-model", "broken-model", "cut-model")


def numbered_replies():
    counter = itertools.count(1)
    return lambda body, index: f"Reply {next(counter)} to {body['messages'][-1]['content']}"


@pytest.fixture
def fault():
    server = FaultServer(models=MODELS, reply=numbered_replies(),
                         faults_by_model={"broken-model": "503", "cut-model": "cut"})
    with server:
        yield server


@pytest.fixture
def page(app, fault):
    """The Chat page on the fault server."""
    app.switch_page("pages/chat.py").run()
    app.sidebar.selectbox(key=state.CONNECTION_NAME).select("vLLM").run()
    app.sidebar.text_input(key=state.connection_field("base_url", "vLLM")).input(
        fault.base_url).run()
    assert not app.exception, app.exception
    assert app.sidebar.selectbox(key=state.MODEL).value == "fault-model"
    return app


def sent(fault) -> list[dict]:
    """The bodies of the chat requests the server received."""
    return [r.body for r in fault.requests if r.path == "/v1/chat/completions"]


def say(at, text: str):
    at.chat_input(key=chat_keys.CHAT_INPUT).set_value(text).run()
    assert not at.exception, at.exception
    return at


def texts(at) -> list[str]:
    """The transcript's message texts (the code blocks of the chat messages)."""
    return [block.value for message in at.chat_message for block in message.code]


def click(at, action: str, item: str = "-"):
    at.button(key=chat_keys.chat_action(action, item)).click().run()
    assert not at.exception, at.exception
    return at


def conversation(at):
    return at.session_state[chat_keys.CHAT_CONVERSATION]


def saved(data_dir):
    return ConversationStore(data_dir / "history.sqlite3")


def test_a_message_gets_a_streamed_reply_and_both_are_saved(page, fault, data_dir):
    say(page, "Hello")
    assert texts(page) == ["Hello", "Reply 1 to Hello"]
    (body,) = sent(fault)
    assert body["messages"] == [{"role": "user", "content": "Hello"}] and body["stream"] is True
    captions = [c.value.replace("\\", "") for c in page.chat_message[1].caption]
    assert any("first token" in c and "finish: stop" in c and "tokens" in c for c in captions)
    (summary,) = saved(data_dir).list()
    assert (summary.title, summary.message_count) == ("Hello", 2)


def test_the_system_message_is_sent_first_and_saved(page, fault, data_dir):
    page.text_area(key=chat_keys.CHAT_SYSTEM).input("Answer in French.").run()
    say(page, "Hello")
    assert sent(fault)[0]["messages"][0] == {"role": "system", "content": "Answer in French."}
    assert saved(data_dir).load(conversation(page).id).system == "Answer in French."


def test_edit_a_message_and_its_role(page, data_dir):
    say(page, "Hello")
    first = conversation(page).messages[0]
    click(page, "edit", first.id)
    page.text_area(key=chat_keys.CHAT_EDIT_TEXT).input("Hello there")
    page.selectbox(key=chat_keys.CHAT_EDIT_ROLE).select("system")
    click(page, "save", first.id)
    assert texts(page)[0] == "Hello there"
    stored = saved(data_dir).load(conversation(page).id).messages[0]
    assert (stored.role, stored.content, stored.edited) == ("system", "Hello there", True)


def test_insert_messages_by_hand_and_delete_one(page, fault):
    click(page, "insert", "end")
    page.selectbox(key=chat_keys.CHAT_EDIT_ROLE).select("user")
    page.text_area(key=chat_keys.CHAT_EDIT_TEXT).input("2 + 2?")
    click(page, "add", "end")
    click(page, "insert", "end")
    assert page.selectbox(key=chat_keys.CHAT_EDIT_ROLE).value == "assistant"  # after a user's
    page.text_area(key=chat_keys.CHAT_EDIT_TEXT).input("4")
    click(page, "add", "end")
    first = conversation(page).messages[0]
    click(page, "insert", first.id)
    page.text_area(key=chat_keys.CHAT_EDIT_TEXT).input("(thinking)")
    click(page, "add", first.id)
    assert texts(page) == ["2 + 2?", "(thinking)", "4"]
    assert sent(fault) == []  # written by hand: nothing asked of the model
    click(page, "delete", conversation(page).messages[1].id)
    assert texts(page) == ["2 + 2?", "4"]
    click(page, "reply")  # Regenerate: the model's reply replaces the hand-written one
    assert texts(page) == ["2 + 2?", "Reply 1 to 2 + 2?"]


def test_regenerate_replaces_the_last_reply(page, fault):
    say(page, "Hello")
    click(page, "reply")
    assert texts(page) == ["Hello", "Reply 2 to Hello"]
    assert sent(fault)[1]["messages"] == [{"role": "user", "content": "Hello"}]


def test_a_failed_request_keeps_the_users_message_and_the_reply_being_replaced(page, data_dir):
    say(page, "Hello")
    page.sidebar.selectbox(key=state.MODEL).select("broken-model").run()
    say(page, "Still there?")
    assert texts(page) == ["Hello", "Reply 1 to Hello", "Still there?"]
    assert any("503" in e.value for e in page.error)
    assert [m.content for m in saved(data_dir).load(conversation(page).id).messages][-1] == (
        "Still there?")
    page.sidebar.selectbox(key=state.MODEL).select("fault-model").run()
    click(page, "reply")  # the last message is the user's: "Get a reply"
    page.sidebar.selectbox(key=state.MODEL).select("broken-model").run()
    click(page, "reply")  # regenerating fails: the reply it would replace stays
    assert texts(page) == ["Hello", "Reply 1 to Hello", "Still there?", "Reply 2 to Still there?"]


def test_a_broken_stream_keeps_what_arrived_marked_incomplete(page):
    page.sidebar.selectbox(key=state.MODEL).select("cut-model").run()
    say(page, "Hello")
    reply = conversation(page).messages[-1]
    assert reply.incomplete and reply.content and "broke off" in reply.error
    assert any("Incomplete" in w.value for w in page.warning)


def test_branch_from_a_message(page, data_dir):
    say(page, "First")
    say(page, "Second")
    original = conversation(page)
    click(page, "branch", original.messages[1].id)
    branch = conversation(page)
    assert branch.id != original.id and branch.branched_from == original.id
    assert texts(page) == ["First", "Reply 1 to First"]
    assert branch.display_title == "First (branch)"
    store = saved(data_dir)
    assert {s.id for s in store.list()} == {original.id, branch.id}
    assert len(store.load(original.id).messages) == 4


def test_several_choices_side_by_side_and_the_picked_one_continues(page, fault):
    page.get_by_key(params.widget_key(ENDPOINT, "n")).set_value(2).run()
    say(page, "Hello")
    choices = conversation(page).choices
    assert [c.content for c in choices] == ["Reply 1 to Hello", "Reply 2 to Hello"]
    headings = [m for m in page.main.markdown if m.value.startswith("**Choice")]
    assert [(m.value, m.help.split(" in ")[0]) for m in headings] == [
        ("**Choice 1**", "index 0"), ("**Choice 2**", "index 1")]  # as on Completions
    assert page.chat_input(key=chat_keys.CHAT_INPUT).disabled  # a choice must be picked first
    click(page, "pick", "1")
    assert texts(page) == ["Hello", "Reply 2 to Hello"] and not conversation(page).choices
    assert not page.chat_input(key=chat_keys.CHAT_INPUT).disabled


def test_budget_refuses_then_drops_the_oldest_turns(page, fault):
    for text in ("a" * 80, "b" * 80):
        say(page, text)
    page.number_input(key=chat_keys.CHAT_LIMIT).set_value(60).run()
    assert any("the budget allows 60" in e.value.replace("\\", "") for e in page.error)
    say(page, "c" * 40)  # refused: nothing sent, the message kept
    assert len(sent(fault)) == 2 and texts(page)[-1] == "c" * 40
    page.radio(key=chat_keys.CHAT_POLICY).set_value("drop_oldest").run()
    assert any("leaves out messages #1–#4" in w.value.replace("\\", "") for w in page.warning)
    click(page, "reply")
    assert sent(fault)[-1]["messages"] == [{"role": "user", "content": "c" * 40}]
    notes = [c.value for m in page.chat_message for c in m.caption if "✂" in c.value]
    assert len(notes) == 4 and all("Left out of the last request" in n for n in notes)
    assert texts(page)[-1] == "Reply 3 to " + "c" * 40


def test_saved_conversations_reopen_rename_and_delete(page, data_dir):
    say(page, "About cats")
    first = conversation(page).id
    click(page, "new")
    assert texts(page) == [] and page.text_area(key=chat_keys.CHAT_SYSTEM).value == ""
    page.text_area(key=chat_keys.CHAT_SYSTEM).input("Be brief.").run()
    say(page, "About dogs")
    labels = [b.label for b in page.sidebar.button if b.key and "chat.open::" in b.key]
    assert [label.split("  \n")[0] for label in labels] == ["About dogs", "About cats"]
    click(page, "open", first)
    assert texts(page) == ["About cats", "Reply 1 to About cats"]
    assert page.text_area(key=chat_keys.CHAT_SYSTEM).value == ""
    page.sidebar.text_input(key=chat_keys.CHAT_TITLE).input("Cats").run()
    assert saved(data_dir).list()[0].title == "Cats"
    click(page, "delete", first)
    assert [s.title for s in saved(data_dir).list()] == ["About dogs"]
    assert texts(page) == []


def test_token_probabilities_when_logprobs_are_asked_for(page):
    page.get_by_key(params.widget_key(ENDPOINT, "logprobs")).check().run()
    say(page, "Hello")
    assert conversation(page).messages[-1].logprobs
    assert [e.label for e in page.expander if e.label == "Token probabilities"]


def test_an_invalid_parameter_is_named_and_the_message_kept(page, fault):
    page.get_by_key(params.widget_key(ENDPOINT, "top_logprobs")).set_value(3).run()
    say(page, "Hello")
    assert any("top_logprobs needs logprobs" in e.value.replace("\\", "") for e in page.error)
    assert texts(page) == ["Hello"] and sent(fault) == []


def test_the_tutorial_example_asks_both_ways(page, fault):
    click(page, "example", "run")
    alone, context = (body["messages"] for body in sent(fault))
    assert alone == [{"role": "user", "content": "Where was it played?"}]
    assert [m["role"] for m in context] == ["system", "user", "assistant", "user"]
    assert {"Reply 1 to Where was it played?", "Reply 2 to Where was it played?"} <= {
        c.value for c in page.code}
    click(page, "example", "context")
    assert page.text_area(key=chat_keys.CHAT_SYSTEM).value == "You are a helpful assistant."
    assert [m.role for m in conversation(page).messages] == ["user", "assistant", "user"]


def test_a_turn_on_the_local_model_is_counted_exactly(app):
    app.switch_page("pages/chat.py").run()
    app.get_by_key(params.widget_key(ENDPOINT, "max_tokens")).set_value(8).run()
    say(app, "Say hi.")
    user, reply = conversation(app).messages
    assert user.tokens_exact and reply.tokens_exact and 0 < reply.tokens <= 8
    assert reply.prompt_tokens > user.tokens
    captions = [c.value for c in app.caption]
    assert "Counted by the server's tokenizer, chat template included\\." in captions


def test_compare_settings_opens_the_conversation_on_the_compare_page(page, fault):
    page.text_area(key=chat_keys.CHAT_SYSTEM).input("Be brief.").run()
    page.get_by_key(params.widget_key(ENDPOINT, "top_p")).set_value(0.8).run()
    say(page, "Hello")
    next(b for b in page.button if b.label == "Compare settings").click().run()
    assert not page.exception, page.exception
    assert page.title[0].value == "Compare"
    assert page.radio(key="compare.mode").value == "Chat"
    assert page.radio(key="compare.messages_from").value == "A conversation (JSON)"
    sent = json.loads(page.text_area(key="compare.messages_json").value)
    assert sent == [{"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hello"}], "up to the last user message"
    assert page.slider(key="compare.fixed.chat.top_p").value == 0.8, "the chat's settings"
    assert not page.error


def test_a_reload_reopens_the_conversation_the_address_names(page, data_dir):
    say(page, "Hello")
    opened = conversation(page)
    assert page.query_params["conversation"] == opened.id
    reloaded = AppTest.from_file(page._script_path, default_timeout=60)  # a new session
    reloaded.query_params["conversation"] = opened.id
    reloaded.switch_page("pages/chat.py").run()
    assert not reloaded.exception, reloaded.exception
    assert conversation(reloaded).id == opened.id
    assert texts(reloaded) == ["Hello", "Reply 1 to Hello"]
    click(reloaded, "new")
    assert "conversation" not in reloaded.query_params  # an empty one is not in the address


def test_an_address_naming_a_deleted_conversation_opens_a_new_one_and_says_so(app):
    app.query_params["conversation"] = "no-such-id"
    app.switch_page("pages/chat.py").run()
    assert not app.exception, app.exception
    assert conversation(app).is_empty
    assert "no longer saved" in " ".join(info.value for info in app.main.info)

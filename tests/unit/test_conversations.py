"""Saved conversations: their own versioned tables in the usage ledger's file."""

from __future__ import annotations

import json
import sqlite3

import pytest

from playground import conversations
from playground.chat import SAMPLING, Conversation, Message, sampled_with
from playground.conversations import ConversationStore
from playground.errors import PlaygroundError
from playground.ledger.records import UsageRecord
from playground.ledger.schema import DB_VARIABLE, SCHEMA_VERSION, schema_version
from playground.ledger.writer import Ledger


@pytest.fixture
def path(tmp_path):
    return tmp_path / "history.sqlite3"


@pytest.fixture
def store(path):
    return ConversationStore(path)


def talk(*texts: str, title: str = "") -> Conversation:
    return Conversation(title=title, system="Be brief.",
                        messages=[Message("user" if i % 2 == 0 else "assistant", text)
                                  for i, text in enumerate(texts)])


def test_save_list_load(store):
    first, second = talk("Who won?"), talk("Where?", "In Texas.", title="Baseball")
    second.messages[1].latency = 0.5
    store.save(first)
    second.updated = "9999-01-01T00:00:00+00:00"  # newest
    store.save(second)
    summaries = store.list()
    assert [(s.title, s.message_count) for s in summaries] == [("Baseball", 2), ("Who won?", 1)]
    assert store.load(second.id) == second
    assert store.load("missing") is None


def test_saving_again_replaces(store):
    conversation = talk("Hi")
    store.save(conversation)
    conversation.add("assistant", "Hello")
    store.save(conversation)
    assert len(store.list()) == 1
    assert [m.content for m in store.load(conversation.id).messages] == ["Hi", "Hello"]


def test_rename_and_delete(store):
    conversation = talk("Hi")
    store.save(conversation)
    store.rename(conversation.id, "  Greetings ")
    assert store.list()[0].title == "Greetings"
    assert store.load(conversation.id).title == "Greetings"
    store.rename(conversation.id, "")  # back to the automatic title
    assert store.list()[0].title == "Hi"
    store.delete(conversation.id)
    assert store.list() == [] and store.load(conversation.id) is None


def test_shares_the_ledger_file_without_touching_its_schema(path, store):
    ledger = Ledger(path)
    ledger.record(UsageRecord(page="Chat", connection="Local", endpoint="chat",
                                      model="m"))
    assert ledger.flush()
    store.save(talk("Hi"))
    assert ledger.count() == 1 and len(store.list()) == 1
    with sqlite3.connect(path) as db:
        assert schema_version(db) == SCHEMA_VERSION
        assert conversations.schema_version(db) == conversations.SCHEMA_VERSION
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"conversations", "schema_migrations"} <= tables
    ledger.close()


def test_conversations_first_then_the_ledger(path, store):
    store.save(talk("Hi"))
    ledger = Ledger(path)
    assert ledger.count() == 0
    ledger.close()
    assert len(ConversationStore(path).list()) == 1


def test_migrating_twice_changes_nothing(path, store):
    store.save(talk("Hi"))
    with sqlite3.connect(path, isolation_level=None) as db:
        assert conversations.migrate(db) == conversations.SCHEMA_VERSION
        applied = db.execute("SELECT COUNT(*) FROM schema_migrations WHERE schema = ?",
                             (conversations.SCHEMA_NAME,)).fetchone()[0]
        assert applied == conversations.SCHEMA_VERSION


def test_a_file_from_a_newer_version_is_refused_unchanged(path, store):
    store.save(talk("Hi"))
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_migrations VALUES (?, 99, '')",
                   (conversations.SCHEMA_NAME,))
    with pytest.raises(PlaygroundError, match="newer version"):
        ConversationStore(path).list()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 1


def test_a_damaged_conversation_is_reported_and_the_others_still_listed(path, store):
    good, bad = talk("fine"), talk("broken")
    store.save(good)
    store.save(bad)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE conversations SET body = '{\"id\": 1}' WHERE id = ?", (bad.id,))
    with pytest.raises(PlaygroundError, match="cannot be read"):
        store.load(bad.id)
    assert len(store.list()) == 2 and store.load(good.id) == good


def test_an_unusable_path_is_a_playground_error(tmp_path):
    with pytest.raises(PlaygroundError, match="could not be opened"):
        ConversationStore(tmp_path).list()  # a folder, not a database file


def test_default_path_is_the_ledgers(monkeypatch, tmp_path):
    monkeypatch.setenv(DB_VARIABLE, str(tmp_path / "chosen.sqlite3"))
    assert ConversationStore().path == tmp_path / "chosen.sqlite3"


def test_key_like_text_is_redacted_before_it_is_written(path, store):
    conversation = talk("my key is sk-abcdefghijklmnopqrstuvwx", "typed: hunter2-secret-key")
    conversation.messages[1].logprobs = [{"token": "typed", "logprob": -0.1, "top_logprobs": []}]
    conversation.messages[1].time_to_first_token = 0.2
    store.save(conversation, secrets=["hunter2-secret-key"])
    saved = store.load(conversation.id)
    assert [m.content for m in saved.messages] == ["my key is [redacted]", "typed: [redacted]"]
    assert saved.messages[1].logprobs == conversation.messages[1].logprobs
    assert saved.messages[1].time_to_first_token == 0.2
    written = b"".join(part.read_bytes() for part in path.parent.glob(path.name + "*"))
    assert b"hunter2" not in written and b"sk-abcdefghij" not in written  # the WAL file too
    assert conversation.messages[0].content.endswith("uvwx")  # the open copy is the user's


def test_a_replys_sampling_settings_are_saved_and_older_replies_load_without_them(store, path):
    conversation = talk("Hi", "Hello")
    reply = conversation.messages[1]
    for name, value in sampled_with({"temperature": 0.4, "logit_bias": {5: -100}}).items():
        setattr(reply, name, value)
    store.save(conversation)
    loaded = store.load(conversation.id)
    assert loaded == conversation
    assert (loaded.messages[1].temperature, loaded.messages[1].top_p,
            loaded.messages[1].logit_bias) == (0.4, 1.0, {"5": -100.0})

    with sqlite3.connect(path) as db:  # as a version that did not record them saved it
        body = json.loads(db.execute("SELECT body FROM conversations").fetchone()[0])
        for message in body["messages"]:
            for name in (*SAMPLING, "logit_bias"):
                message.pop(name, None)
        db.execute("UPDATE conversations SET body = ?", (json.dumps(body),))
    older = store.load(conversation.id).messages[1]
    assert older.content == "Hello"
    assert (older.temperature, older.top_p, older.logit_bias) == (None, None, None)

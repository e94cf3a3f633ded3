"""Connections: resolution order, keys never on disk, masking, and the connection test."""

from __future__ import annotations

import json
import socket
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playground import connection
from playground.connection import (
    LOCAL_NAME,
    Connection,
    SavedConnections,
    mask_key,
    preset,
    resolve,
)

OPENAI = preset("OpenAI")
TYPED, SECRET, ENV = "sk-typed-1111111111", "sk-secret-2222222222", "sk-env-3333333333"


class TestResolutionOrder:
    def test_typed_beats_secrets_beats_environment_beats_preset(self):
        secrets = {"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": "https://secrets.example/v1"}
        env = {"OPENAI_API_KEY": ENV, "OPENAI_BASE_URL": "https://env.example/v1"}

        typed = resolve(OPENAI, typed_key=TYPED, typed_base_url="https://typed.example/v1",
                        secrets=secrets, environment=env)
        assert (typed.api_key, typed.base_url) == (TYPED, "https://typed.example/v1")
        assert typed.key_source == "typed"

        from_secrets = resolve(OPENAI, secrets=secrets, environment=env)
        assert (from_secrets.api_key, from_secrets.base_url) == (SECRET, "https://secrets.example/v1")
        assert from_secrets.key_source == "secrets"

        from_env = resolve(OPENAI, secrets={}, environment=env)
        assert (from_env.api_key, from_env.base_url) == (ENV, "https://env.example/v1")
        assert from_env.key_source == "environment"

        from_preset = resolve(OPENAI, secrets={}, environment={})
        assert (from_preset.api_key, from_preset.base_url) == (None, "https://api.openai.com/v1")
        assert from_preset.key_source is None

    def test_a_key_on_the_connection_itself_comes_after_a_typed_one(self):
        keyed = Connection("Keyed", kind="openai", api_key=SECRET)
        env = {"OPENAI_API_KEY": ENV}
        own = resolve(keyed, environment=env)
        assert (own.api_key, own.key_source) == (SECRET, "connection")
        typed = resolve(keyed, typed_key=TYPED, environment=env)
        assert (typed.api_key, typed.key_source) == (TYPED, "typed")

    def test_the_key_source_is_not_part_of_the_connection(self):
        typed = resolve(OPENAI, typed_key=TYPED, environment={})
        from_env = resolve(OPENAI, environment={"OPENAI_API_KEY": TYPED})
        assert typed == from_env and hash(typed) == hash(from_env)
        assert typed.key_source != from_env.key_source

    def test_each_setting_falls_through_on_its_own_for_the_same_address(self):
        resolved = resolve(OPENAI, secrets={"OPENAI_ORG_ID": "org-secret"},
                           environment={"OPENAI_API_KEY": ENV, "OPENAI_ORG_ID": "org-env"})
        assert (resolved.api_key, resolved.key_source) == (ENV, "environment")
        assert resolved.base_url == "https://api.openai.com/v1"
        assert resolved.organization == "org-secret"

    def test_empty_values_do_not_count(self):
        resolved = resolve(OPENAI, typed_key="", secrets={"OPENAI_API_KEY": ""},
                           environment={"OPENAI_API_KEY": ENV})
        assert (resolved.api_key, resolved.key_source) == (ENV, "environment")

    def test_resolving_does_not_change_the_preset(self):
        resolve(OPENAI, typed_key=TYPED, environment={})
        assert preset("OpenAI").api_key is None

    def test_local_ignores_openai_base_url_and_keys(self):
        local = preset(LOCAL_NAME)
        env = {"OPENAI_BASE_URL": "https://env.example/v1", "OPENAI_API_KEY": ENV}
        resolved = resolve(local, secrets=env, environment=env)
        assert resolved.base_url is None and resolved.api_key is None
        assert resolved.key_source is None
        assert resolved == local

    def test_local_client_uses_the_local_server_despite_openai_base_url(self, monkeypatch):
        monkeypatch.setenv("OPENAI_BASE_URL", "https://env.example/v1")
        monkeypatch.setenv("PLAYGROUND_LOCAL_URL", "http://127.0.0.1:9/v1")
        client = connection.client_for(resolve(preset(LOCAL_NAME)))
        assert str(client.base_url).rstrip("/") == "http://127.0.0.1:9/v1"

    def test_custom_connection_keeps_its_own_base_url(self):
        ollama = preset("Ollama")
        resolved = resolve(ollama, environment={"OPENAI_BASE_URL": "https://env.example/v1",
                                                "OPENAI_API_KEY": ENV})
        assert resolved.base_url == "http://localhost:11434/v1"
        assert resolved.api_key is None  # the OpenAI key is not sent to other servers
        assert resolved.key_source is None
        typed = resolve(ollama, typed_key=TYPED, environment={})
        assert (typed.api_key, typed.key_source) == (TYPED, "typed")
        assert resolve(ollama, typed_base_url="http://other:1/v1",
                       environment={}).base_url == "http://other:1/v1"

    def test_environment_settings_read_dotenv_and_the_process_environment_wins(
            self, tmp_path, monkeypatch):
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID"):
            monkeypatch.delenv(name, raising=False)
        env_file = tmp_path / ".env"
        env_file.write_text("OPENAI_API_KEY=sk-dotenv-444444444\nOPENAI_ORG_ID=org-dotenv\n"
                            "UNRELATED=1\n")
        monkeypatch.setenv("OPENAI_API_KEY", ENV)
        settings = connection.environment_settings(env_file)
        assert settings["OPENAI_API_KEY"] == ENV
        assert settings["OPENAI_ORG_ID"] == "org-dotenv"

        monkeypatch.chdir(tmp_path)  # resolve() reads ./.env when no environment is given
        monkeypatch.delenv("OPENAI_API_KEY")
        from_dotenv = resolve(OPENAI)
        assert (from_dotenv.api_key, from_dotenv.key_source) == ("sk-dotenv-444444444",
                                                                 "environment")


GATEWAY = "https://gateway.example/v1"
VISITOR = "http://visitor.example:8080/v1"


class TestAKeyGoesOnlyWhereItWasConfigured:
    """A key from secrets.toml or the environment travels with the base URL set beside it
    (or OpenAI's); anywhere else only a typed key is sent, and resolve says why."""

    @pytest.mark.parametrize("layer", ["secrets", "environment"])
    def test_a_typed_base_url_does_not_get_the_configured_key(self, layer):
        configured = {"OPENAI_API_KEY": ENV, "OPENAI_ORG_ID": "org-owner"}
        resolved = resolve(OPENAI, typed_base_url=VISITOR, **{layer: configured},
                           **{other: {} for other in ("secrets", "environment") if other != layer})
        assert resolved.base_url == VISITOR
        assert resolved.api_key is None and resolved.key_source is None
        assert resolved.organization is None
        assert resolved.key_withheld == connection.WithheldKey(layer, "https://api.openai.com/v1")

    def test_a_typed_key_goes_to_a_typed_base_url(self):
        resolved = resolve(OPENAI, typed_key=TYPED, typed_base_url=VISITOR,
                           environment={"OPENAI_API_KEY": ENV})
        assert (resolved.api_key, resolved.key_source, resolved.base_url) == (TYPED, "typed",
                                                                             VISITOR)
        assert resolved.key_withheld is None

    def test_a_key_goes_to_the_base_url_configured_beside_it(self):
        env = {"OPENAI_API_KEY": ENV, "OPENAI_BASE_URL": GATEWAY, "OPENAI_ORG_ID": "org-gw"}
        resolved = resolve(OPENAI, secrets={}, environment=env)
        assert (resolved.api_key, resolved.base_url, resolved.organization) == (
            ENV, GATEWAY, "org-gw")
        # The same address typed again, written a little differently, is the same address.
        again = resolve(OPENAI, typed_base_url="HTTPS://Gateway.example/v1/", environment=env)
        assert (again.api_key, again.key_withheld) == (ENV, None)
        # ... but not OpenAI's any more: the key is bound to the gateway.
        openai_itself = resolve(OPENAI, typed_base_url="https://api.openai.com/v1",
                                environment=env)
        assert openai_itself.api_key is None
        assert openai_itself.key_withheld == connection.WithheldKey("environment", GATEWAY)

    def test_a_key_does_not_follow_a_base_url_set_in_another_place(self):
        resolved = resolve(OPENAI, secrets={"OPENAI_BASE_URL": GATEWAY},
                           environment={"OPENAI_API_KEY": ENV, "OPENAI_ORG_ID": "org-env"})
        assert resolved.base_url == GATEWAY
        assert (resolved.api_key, resolved.organization) == (None, None)
        assert resolved.key_withheld == connection.WithheldKey("environment",
                                                               "https://api.openai.com/v1")

    def test_the_first_key_bound_to_the_address_is_used(self):
        resolved = resolve(OPENAI, secrets={"OPENAI_API_KEY": SECRET},
                           environment={"OPENAI_API_KEY": ENV, "OPENAI_BASE_URL": GATEWAY})
        assert (resolved.base_url, resolved.api_key, resolved.key_source) == (
            GATEWAY, ENV, "environment")

    def test_a_saved_connection_pointing_elsewhere_gets_no_configured_key(self):
        saved = Connection("Elsewhere", kind="openai", base_url=VISITOR)
        resolved = resolve(saved, secrets={"OPENAI_API_KEY": SECRET}, environment={})
        assert resolved.api_key is None
        assert resolved.key_withheld == connection.WithheldKey("secrets",
                                                               "https://api.openai.com/v1")
        typed = resolve(saved, typed_key=TYPED, secrets={"OPENAI_API_KEY": SECRET},
                        environment={})
        assert (typed.api_key, typed.key_withheld) == (TYPED, None)

    def test_a_saved_connection_to_openai_itself_gets_it(self):
        saved = Connection("Mine", kind="openai", base_url="https://api.openai.com/v1/")
        resolved = resolve(saved, environment={"OPENAI_API_KEY": ENV})
        assert (resolved.api_key, resolved.key_source) == (ENV, "environment")

    def test_a_withheld_key_is_neither_compared_nor_saved(self, tmp_path):
        withheld = resolve(OPENAI, typed_base_url=VISITOR, environment={"OPENAI_API_KEY": ENV})
        assert withheld == resolve(OPENAI, typed_base_url=VISITOR, environment={})
        store = SavedConnections(tmp_path / "connections.json")
        store.save(withheld)
        assert "key_withheld" not in store.path.read_text()
        assert ENV not in store.path.read_text()

    def test_the_missing_key_error_says_where_the_configured_key_goes(self):
        from playground import errors

        withheld = resolve(OPENAI, typed_base_url=VISITOR, environment={"OPENAI_API_KEY": ENV})
        with pytest.raises(errors.AuthenticationFailed) as raised:
            connection.client_for(withheld)
        assert VISITOR in raised.value.message
        assert "only sent to https://api.openai.com/v1" in raised.value.message
        assert ENV not in raised.value.message + raised.value.hint
        report = connection.check_connection(withheld)
        assert not report.ok and "Type a key for this address" in report.hint


class TestKeysStayOffDisk:
    def test_round_trip_keeps_everything_but_the_key(self, tmp_path):
        store = SavedConnections(tmp_path / "connections.json")
        conn = Connection("Gateway", kind="custom", base_url="https://gw.example/v1",
                          api_key="sk-very-secret-abcdef123456", organization="org-1",
                          timeout=30.0, max_retries=1)
        store.save(conn)

        on_disk = store.path.read_text()
        assert "sk-very-secret" not in on_disk and "abcdef123456" not in on_disk
        assert "api_key" not in on_disk
        (row,) = json.loads(on_disk)
        assert row["base_url"] == "https://gw.example/v1" and row["timeout"] == 30.0

        (loaded,) = SavedConnections(store.path).load()
        assert loaded.api_key is None
        assert loaded == Connection("Gateway", kind="custom", base_url="https://gw.example/v1",
                                    organization="org-1", timeout=30.0, max_retries=1)

    def test_save_replaces_by_name_and_delete_removes(self, tmp_path):
        store = SavedConnections(tmp_path / "connections.json")
        store.save(Connection("A", base_url="http://a/v1"))
        store.save(Connection("B", base_url="http://b/v1"))
        store.save(Connection("A", base_url="http://a2/v1", api_key="sk-zzzzzzzzzzzzzz"))
        assert [(c.name, c.base_url) for c in store.load()] == [("B", "http://b/v1"),
                                                                ("A", "http://a2/v1")]
        store.delete("B")
        assert [c.name for c in store.load()] == ["A"]
        assert "sk-zzzz" not in store.path.read_text()
        assert not store.path.with_suffix(".tmp").exists()

    def test_a_missing_or_broken_file_is_empty(self, tmp_path):
        assert SavedConnections(tmp_path / "absent.json").load() == []
        broken = tmp_path / "broken.json"
        broken.write_text("{not json")
        assert SavedConnections(broken).load() == []

    def test_a_key_written_by_hand_is_not_loaded(self, tmp_path):
        path = tmp_path / "connections.json"
        path.write_text(json.dumps([{"name": "X", "base_url": "http://x/v1",
                                     "api_key": "sk-hand-written-0000"}]))
        (loaded,) = SavedConnections(path).load()
        assert loaded.api_key is None

    def test_default_file_is_in_the_data_folder(self, data_dir):
        assert SavedConnections().path == data_dir / "connections.json"

    def test_saved_connection_overrides_a_preset_of_the_same_name(self, tmp_path):
        store = SavedConnections(tmp_path / "connections.json")
        store.save(Connection("Ollama", base_url="http://gpu-box:11434/v1"))
        conns = connection.all_connections(store)
        ollamas = [c for c in conns if c.name == "Ollama"]
        assert [c.base_url for c in ollamas] == ["http://gpu-box:11434/v1"]
        assert conns[0].name == LOCAL_NAME

    def test_repr_hides_the_key(self):
        conn = Connection("X", api_key="sk-in-repr-99999999")
        assert "sk-in-repr" not in repr(conn)
        assert "api_key" not in conn.without_key()

    def test_where_the_key_came_from_is_not_saved_or_loaded(self, tmp_path):
        store = SavedConnections(tmp_path / "connections.json")
        store.save(resolve(OPENAI, typed_key=TYPED, environment={}))
        (row,) = json.loads(store.path.read_text())
        assert "key_source" not in row and TYPED not in store.path.read_text()

        store.path.write_text(json.dumps([{**row, "key_source": "typed"}]))
        (loaded,) = store.load()
        assert loaded.key_source is None


class TestHandEditedLimits:
    """connections.json may be edited by hand: what is out of range is set right, and said."""

    def load(self, tmp_path, *rows) -> tuple[list[Connection], list[str]]:
        store = SavedConnections(tmp_path / "connections.json")
        store.path.write_text(json.dumps(list(rows)))
        return store.load(), store.problems

    def test_values_within_the_limits_load_as_they_are(self, tmp_path):
        (conn,), problems = self.load(tmp_path, {"name": "A", "timeout": 1, "max_retries": 10})
        assert (conn.timeout, conn.max_retries) == (1.0, 10) and problems == []
        assert isinstance(conn.timeout, float)
        (conn,), problems = self.load(tmp_path, {"name": "A", "timeout": 600.0,
                                                 "max_retries": 0.0})
        assert (conn.timeout, conn.max_retries) == (600.0, 0) and problems == []
        assert isinstance(conn.max_retries, int)

    @pytest.mark.parametrize("field, value, expected, words", [
        ("timeout", 0, 1.0, "timeout 0 is not a number of seconds from 1 to 600; using 1."),
        ("timeout", -5.5, 1.0, "timeout -5.5 is not a number of seconds from 1 to 600"),
        ("timeout", 3600, 600.0, "timeout 3600 is not a number of seconds from 1 to 600; "
                                 "using 600."),
        ("timeout", "soon", 120.0, "timeout 'soon' is not a number of seconds from 1 to 600; "
                                   "using 120."),
        ("timeout", None, 120.0, "timeout None is not"),
        ("timeout", True, 120.0, "timeout True is not"),
        ("max_retries", -1, 0, "max_retries -1 is not a whole number from 0 to 10; using 0."),
        ("max_retries", 99, 10, "max_retries 99 is not a whole number from 0 to 10; using 10."),
        ("max_retries", 2.5, 2, "max_retries 2.5 is not a whole number from 0 to 10; using 2."),
        ("max_retries", "3", 2, "max_retries '3' is not a whole number"),
    ])
    def test_a_value_out_of_range_is_set_right_and_named(self, tmp_path, field, value, expected,
                                                         words):
        (conn,), problems = self.load(tmp_path, {"name": "Gateway", field: value})
        assert getattr(conn, field) == expected
        assert type(getattr(conn, field)) is type(expected)
        (problem,) = problems
        assert problem.startswith("Saved connection 'Gateway': ") and words in problem

    def test_infinite_and_nan_values(self, tmp_path):
        path = tmp_path / "connections.json"
        path.write_text('[{"name": "A", "timeout": Infinity, "max_retries": NaN}]')
        store = SavedConnections(path)
        (conn,) = store.load()
        assert (conn.timeout, conn.max_retries) == (600.0, 2) and len(store.problems) == 2

    def test_entries_without_a_name_are_skipped_and_said(self, tmp_path):
        conns, problems = self.load(tmp_path, {"base_url": "http://a/v1"}, "B", {"name": ""},
                                    {"name": 3}, {"name": "C"})
        assert [c.name for c in conns] == ["C"]
        assert problems == ["connections.json: an entry without a name was skipped."] * 4

    def test_a_file_that_is_no_list_is_ignored_and_said(self, tmp_path):
        conns, problems = self.load(tmp_path)
        assert conns == [] and problems == []
        path = tmp_path / "connections.json"
        path.write_text(json.dumps({"name": "A"}))
        store = SavedConnections(path)
        assert store.load() == []
        assert store.problems == ["connections.json holds no list of connections, so none is "
                                  "shown; saving one keeps it aside."]

    def test_saving_writes_the_values_set_right(self, tmp_path):
        store = SavedConnections(tmp_path / "connections.json")
        store.path.write_text(json.dumps([{"name": "A", "timeout": 0, "max_retries": 99}]))
        store.save(Connection("B"))
        assert [(c.timeout, c.max_retries) for c in store.load()] == [(1.0, 10), (120.0, 2)]
        assert store.problems == []


class TestSavingKeepsWhatItCannotRead:
    def test_entries_without_a_name_survive_a_save_and_a_delete(self, tmp_path):
        store = SavedConnections(tmp_path / "connections.json")
        unnamed = {"base_url": "http://half-written/v1", "api_key": "sk-typed-by-hand"}
        store.path.write_text(json.dumps([unnamed, "a note", {"name": "A"}]))
        store.save(Connection("B", base_url="http://b/v1"))
        store.delete("A")
        written = json.loads(store.path.read_text())
        assert written[:2] == [{"base_url": "http://half-written/v1"}, "a note"]  # no key
        assert [entry["name"] for entry in written[2:]] == ["B"]

    @pytest.mark.parametrize("text", ["[{\"name\": \"A\",", "{\"name\": \"A\"}", "\udcff"])
    def test_a_file_it_cannot_read_is_kept_aside_when_saving(self, tmp_path, text):
        store = SavedConnections(tmp_path / "connections.json")
        store.path.write_bytes(text.encode("utf-8", "surrogateescape"))
        assert store.load() == []
        (problem,) = store.problems
        assert problem.startswith("connections.json ") and "saving one keeps it aside" in problem
        store.save(Connection("B", base_url="http://b/v1"))
        (aside,) = tmp_path.glob("connections.json.unreadable-*")
        assert aside.read_bytes() == text.encode("utf-8", "surrogateescape")
        assert store.problems == [
            f"connections.json could not be read; it is kept as {aside.name}."]
        assert [conn.name for conn in store.load()] == ["B"] and store.problems == []


class TestClientCache:
    def test_timeout_and_retries_take_effect_on_the_next_client(self):
        conn = Connection("Cached", base_url="http://127.0.0.1:9/v1", timeout=30.0,
                          max_retries=1)
        client = connection.client_for(conn)
        assert (client.timeout.read, client.timeout.connect, client.max_retries) == (30.0, 5.0, 1)
        assert connection.client_for(replace(conn)) is client  # same settings, same pool

        slower = connection.client_for(replace(conn, timeout=300.0))
        assert (slower.timeout.read, slower.max_retries) == (300.0, 1)
        patient = connection.client_for(replace(conn, max_retries=7))
        assert (patient.timeout.read, patient.max_retries) == (30.0, 7)
        assert connection.client_for(replace(conn, timeout=2.0)).timeout.connect == 2.0


class TestMaskKey:
    def test_shows_start_and_end_of_a_long_key(self):
        assert mask_key("sk-proj-abcdefghijklmnop1234") == "sk-…1234"

    @pytest.mark.parametrize("key", ["short", "sk-123456789", "x"])
    def test_short_keys_show_nothing(self, key):
        masked = mask_key(key)
        assert not set(key) & set(masked)

    @pytest.mark.parametrize("key", [None, ""])
    def test_no_key(self, key):
        assert mask_key(key) == "(none)"

    @given(st.text(alphabet=st.characters(blacklist_characters="…"), min_size=1, max_size=200))
    def test_never_reveals_the_whole_key(self, key):
        masked = mask_key(key)
        assert key not in masked
        revealed = len(masked.replace("…", ""))
        assert revealed <= 7 and revealed < len(key) / 2 + 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestConnectionTest:
    def test_closed_port_reports_connection_failure(self):
        conn = Connection("Nothing here", base_url=f"http://127.0.0.1:{_closed_port()}/v1")
        report = connection.check_connection(conn)
        assert report.ok is False
        assert report.message.startswith("Could not connect to the endpoint")
        assert "base URL" in report.hint
        assert report.model_count == 0
        assert report.seconds < 10

    def test_missing_key_is_reported_not_raised(self):
        report = connection.check_connection(resolve(OPENAI, environment={}))
        assert report.ok is False
        assert "needs an API key" in report.message
        assert "OPENAI_API_KEY" in report.hint

    def test_the_local_server_reports_its_two_models(self, local_base_url):
        report = connection.check_connection(Connection("Local", kind="custom",
                                                       base_url=local_base_url))
        assert report.ok is True, report.message
        assert report.model_count == 2
        assert report.message.startswith("Connected: 2 models")

    def test_list_and_retrieve_models_on_the_local_server(self, local_base_url):
        from playground import errors

        conn = Connection("Local", kind="custom", base_url=local_base_url, max_retries=0)
        ids = [m["id"] for m in connection.list_models(conn)]
        assert ids == ["smollm2-135m-instruct", "gemma-3-270m"]
        assert connection.retrieve_model(conn, "gemma-3-270m")["id"] == "gemma-3-270m"
        with pytest.raises(errors.ModelNotFound, match="does not exist"):
            connection.retrieve_model(conn, "no-such-model")

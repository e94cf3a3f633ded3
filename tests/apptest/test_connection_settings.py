"""The sidebar's timeout and retries: per connection, used from the next request on, saved
with the connection, and a hand-edited connections.json out of range set right and said."""

from __future__ import annotations

import json
import time

import pytest

from fault_server import FaultServer
from ui.common import state


@pytest.fixture
def server():
    fault = FaultServer(hang_seconds=20.0)
    with fault:
        yield fault


def write_connections(at, data_dir, *rows: dict) -> None:
    """Write connections.json by hand, and run the app so that it reads it."""
    (data_dir / "connections.json").write_text(json.dumps(list(rows)))
    at.run()


def saved(data_dir) -> dict[str, tuple[float, int]]:
    rows = json.loads((data_dir / "connections.json").read_text())
    return {row["name"]: (row["timeout"], row["max_retries"]) for row in rows if "name" in row}


def choose(at, name: str):
    return at.sidebar.selectbox(key=state.CONNECTION_NAME).select(name).run()


def timeout(at, name: str):
    return at.sidebar.number_input(key=state.connection_field("timeout", name))


def retries(at, name: str):
    return at.sidebar.number_input(key=state.connection_field("max_retries", name))


def limits(at, name: str) -> tuple[float, int]:
    return timeout(at, name).value, retries(at, name).value


def button(at, label: str):
    return next(b for b in at.sidebar.button if b.label == label)


def warnings(at) -> str:
    return "\n".join(w.value.replace("\\", "") for w in at.sidebar.warning)


def test_local_models_have_none(app):
    assert not [field for field in app.sidebar.number_input
                if field.key.startswith(("sidebar.timeout", "sidebar.max_retries"))]


def test_fields_start_at_the_saved_values_and_stay_with_their_connection(app, data_dir,
                                                                        server):
    write_connections(app, data_dir,
                      {"name": "A", "base_url": server.base_url, "timeout": 30.0, "max_retries": 0},
                      {"name": "B", "base_url": server.base_url, "timeout": 7.0, "max_retries": 3})
    choose(app, "A")
    assert limits(app, "A") == (30.0, 0)
    assert "Seconds to wait for the answer" in timeout(app, "A").help
    assert "408, 409, 429 or 5xx" in retries(app, "A").help
    timeout(app, "A").set_value(45.0)
    retries(app, "A").set_value(4).run()

    choose(app, "B")
    assert limits(app, "B") == (7.0, 3)
    app.switch_page("pages/models.py").run()
    app.switch_page("pages/completions.py").run()
    choose(app, "A")
    assert limits(app, "A") == (45.0, 4)  # this session's values, not saved ones
    assert saved(data_dir)["A"] == (30.0, 0)
    assert not app.exception


def test_typed_retries_and_timeout_are_used_from_the_next_request(app, data_dir, server):
    server.fault = "503"
    write_connections(app, data_dir, {"name": "Flaky", "base_url": server.base_url,
                                      "timeout": 30.0, "max_retries": 0})
    choose(app, "Flaky")
    assert server.count("/v1/models") == 1  # no retry
    retries(app, "Flaky").set_value(1).run()
    assert server.count("/v1/models") == 3  # listed again: one try and one retry
    assert "overloaded" in "\n".join(e.value for e in app.sidebar.error)

    server.fault = "hang"  # the answer never starts
    retries(app, "Flaky").set_value(0)
    started = time.monotonic()
    timeout(app, "Flaky").set_value(1.0).run()
    assert time.monotonic() - started < 10
    assert "timed out" in "\n".join(e.value for e in app.sidebar.error)
    assert not app.exception


def test_save_keeps_the_typed_values(app, data_dir, server):
    write_connections(app, data_dir, {"name": "Gateway", "base_url": server.base_url})
    choose(app, "Gateway")
    assert limits(app, "Gateway") == (120.0, 2)
    timeout(app, "Gateway").set_value(300.0)
    retries(app, "Gateway").set_value(5).run()
    button(app, "Save connection").click().run()
    assert saved(data_dir) == {"Gateway": (300.0, 5)}

    app.sidebar.text_input(key=state.SAVE_AS).input("Gateway, patient")
    retries(app, "Gateway").set_value(10).run()
    button(app, "Save connection").click().run()
    assert app.sidebar.selectbox(key=state.CONNECTION_NAME).value == "Gateway, patient"
    assert limits(app, "Gateway, patient") == (300.0, 10)
    assert saved(data_dir) == {"Gateway": (300.0, 5), "Gateway, patient": (300.0, 10)}
    assert not app.exception


def test_a_hand_edited_file_out_of_range_is_set_right_and_said(app, data_dir, server):
    write_connections(app, data_dir,
                      {"name": "Wild", "base_url": server.base_url, "timeout": 0,
                       "max_retries": 99},
                      {"name": "Odd", "base_url": server.base_url, "timeout": "soon"},
                      {"base_url": server.base_url})
    assert not app.exception
    shown = warnings(app)
    assert "'Wild': timeout 0 is not a number of seconds from 1 to 600; using 1." in shown
    assert "'Wild': max_retries 99 is not a whole number from 0 to 10; using 10." in shown
    assert "'Odd': timeout 'soon' is not a number of seconds from 1 to 600; using 120." in shown
    assert "an entry without a name was skipped" in shown

    choose(app, "Wild")
    assert limits(app, "Wild") == (1.0, 10)
    assert app.sidebar.selectbox(key=state.MODEL).value == "fault-model"
    button(app, "Save connection").click().run()  # writes the values set right
    assert saved(data_dir) == {"Wild": (1.0, 10), "Odd": (120.0, 2)}
    # The entry without a name stays in the file, for whoever wrote it to finish.
    assert {"base_url": server.base_url} in json.loads((data_dir / "connections.json").read_text())
    assert warnings(app) == "connections.json: an entry without a name was skipped."
    assert not app.exception


def test_a_file_that_cannot_be_read_is_said_and_kept_aside_on_saving(app, data_dir, server):
    (data_dir / "connections.json").write_text('[{"name": "Half-typed", "base_url": ')
    app.run()
    assert "connections.json cannot be read" in warnings(app)
    choose(app, "vLLM")
    app.sidebar.text_input(key=state.SAVE_AS).input("Mine").run()
    button(app, "Save connection").click().run()
    (aside,) = data_dir.glob("connections.json.unreadable-*")
    assert aside.read_text() == '[{"name": "Half-typed", "base_url": '
    assert f"it is kept as {aside.name}" in app.sidebar.info[0].value.replace("\\", "")
    assert list(saved(data_dir)) == ["Mine"] and not warnings(app)
    assert not app.exception

"""Every fault a request can meet, on every request page, under AppTest.

The pages talk to the fault server through a saved connection ("Faulty", timeout 1 s, one
retry), whose server-wide behaviour each test switches between runs. After each fault the
page must say what happened and what to do, keep everything typed (prompt, transcript,
grid, settings), keep a partial stream marked incomplete, leave other Compare cells alone,
show no traceback, and work again at once: the next run succeeds.
"""

from __future__ import annotations

import json

import pytest

from fault_server import UNRESOLVABLE_URL, FaultServer, Unaccepting, closed_port_url
from ui.chat import keys as chat_keys
from ui.common import pages, params, state
from ui.completions import keys as completions_keys

REPLY = "The quick brown fox jumps over the lazy dog and runs far away"
FAULTY = "Faulty"

# behaviour -> words the error on the page must hold (message, then hint)
HTTP_FAULTS = {
    "401": ("The server refused the API key (401)", "Check the API key"),
    "403": ("Access denied (403)", "may not use this model"),
    "404": ("Not found (404)", "Pick a model"),
    "400": ("(400) [temperature]", "Change the named parameter"),
    "413": ("Too long for the model's context (413)", "Shorten the prompt"),
    "context": ("maximum context length", "Shorten the prompt"),
    "429": ("Rate limited (429)", "Wait a moment"),
    "429-retry-after": ("Rate limited (429)", "Wait a moment"),
    "500": ("The server failed (500)", "try again"),
    "502": ("The server failed (502) and sent no API error", "try again"),
    "503": ("The server failed (503)", "try again"),
    "not-json": ("not JSON", "try again"),
    "cut": ("broke off before the server's answer was complete", "send again"),
    "hang": ("timed out", "raise the timeout"),
}
RETRIED = {"429", "429-retry-after", "500", "502", "503", "cut", "hang"}  # by the SDK
STREAM_FAULTS = {  # with stream on: what arrived is kept
    "cut": "broke off",
    "hang": "timed out",
    "cut-quiet": "no finish reason",  # the connection closed between events
    "cut-mid-event": "no finish reason",  # ... or inside one
}
# base URL -> words of the error: faults below HTTP
ADDRESS_FAULTS = {
    "refused": ("Could not connect to the endpoint", "Connection refused"),
    "dns": ("does not resolve", "no-such-host.invalid"),
    "connect-timeout": ("Could not connect to 127.0.0.1 within the timeout", "reachable"),
}


@pytest.fixture
def fault():
    server = FaultServer(hang_seconds=4.0, retry_after=0.05)
    with server:
        yield server


def save_connection(data_dir, name: str, base_url: str, **extra) -> None:
    path = data_dir / "connections.json"
    saved = json.loads(path.read_text()) if path.exists() else []
    saved.append({"name": name, "kind": "custom", "base_url": base_url, "organization": None,
                  "timeout": 1.0, "max_retries": 1, **extra})
    path.write_text(json.dumps(saved))


@pytest.fixture
def faulty(app, fault, data_dir):
    """The app on the fault server through a saved connection with a short timeout."""
    save_connection(data_dir, FAULTY, fault.base_url)
    app.run()
    app.sidebar.selectbox(key=state.CONNECTION_NAME).select(FAULTY).run()
    assert app.sidebar.selectbox(key=state.MODEL).value == "fault-model"
    return app


# -- reading the page ------------------------------------------------------------------------

def open_page(at, page: str):
    """Switch pages. Under AppTest the first run after the first switch draws the sidebar
    as if on the local connection (a real browser keeps the connection: checked in
    Chromium), so a second run gives the page as a person sees it."""
    at.switch_page(page).run()
    at.run()
    return at


def rendered(at) -> str:
    """Every element of the page and the sidebar, as the protobuf text sent to a browser."""
    parts: list[str] = []

    def walk(node) -> None:
        if getattr(node, "proto", None) is not None:
            parts.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def unescaped(elements) -> list[str]:
    return [element.value.replace("\\", "") for element in elements]


def errors_shown(at) -> str:
    return "\n".join(unescaped(at.error) + unescaped(at.caption) + unescaped(at.warning))


def assert_clean(at) -> None:
    """No exception element and no traceback text anywhere on the page."""
    assert not at.exception, [e.value for e in at.exception]
    text = rendered(at)
    assert "Traceback" not in text and 'File "' not in text


def assert_explained(at, fault_name: str, words: tuple[str, ...]) -> None:
    assert_clean(at)
    shown = errors_shown(at)
    for word in words:
        assert word in shown, f"{fault_name}: {word!r} not in {shown!r}"


def outputs(at) -> list[str]:
    return [code.value for code in at.code if code.language == "plaintext"]


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def click(at, label: str):
    button(at, label).click().run()
    return at


# -- Completions -----------------------------------------------------------------------------

def completions_settings(at) -> dict:
    keys = [completions_keys.COMPLETIONS_PROMPT] + [params.widget_key("completions", name)
                                         for name in params.specs_for("completions")]
    return {key: at.session_state[key] for key in keys if key in at.session_state}


def completions_run(at):
    button(at, "Run").click().run()
    return at


@pytest.fixture
def completions(faulty):
    at = faulty
    at.text_area(key=completions_keys.COMPLETIONS_PROMPT).input("Tell me about <b>foxes</b>")
    at.get_by_key(params.widget_key("completions", "temperature")).set_value(0.7)
    at.get_by_key(params.widget_key("completions", "max_tokens")).set_value(30)
    at.get_by_key(params.widget_key("completions", "stop")).set_value(["END"])
    at.get_by_key(params.widget_key("completions", "seed")).set_value(7)
    completions_run(at)
    assert outputs(at) == [REPLY]
    return at


def test_completions_after_each_http_fault_keeps_everything_and_runs_again(completions, fault):
    at = completions
    typed = completions_settings(at)
    for name, words in HTTP_FAULTS.items():
        fault.fault = name
        fault.reset()
        completions_run(at)
        assert_explained(at, name, words)
        attempts = 2 if name in RETRIED else 1  # the saved connection allows one retry
        assert fault.count("/v1/completions") == attempts, name
        assert completions_settings(at) == typed, f"{name} changed what was typed"
        fault.fault = "ok"
        completions_run(at)
        assert_clean(at)
        assert outputs(at) == [REPLY], f"the run after {name} did not succeed"
        assert not at.error


def test_completions_a_broken_stream_keeps_its_part_marked_incomplete(completions, fault):
    at = completions
    at.get_by_key(params.widget_key("completions", "stream")).check()  # in the form:
    completions_run(at)  # sent with the next Run
    typed = completions_settings(at)
    assert typed[params.widget_key("completions", "stream")] is True
    for name, words in STREAM_FAULTS.items():
        fault.fault = name
        completions_run(at)
        assert_explained(at, name, (words, "kept and marked incomplete"))
        (partial,) = outputs(at)
        assert partial and REPLY.startswith(partial) and partial != REPLY
        assert any("incomplete" in w for w in unescaped(at.warning))
        assert "finish_reason: none (cut short)" in errors_shown(at)
        assert completions_settings(at) == typed
        fault.fault = "ok"
        completions_run(at)
        assert outputs(at) == [REPLY] and not at.warning


def point_at(at, name: str, base_url: str | None):
    """Type a base URL over the saved one (None: clear it)."""
    at.sidebar.text_input(key=state.connection_field("base_url", name)).input(base_url or "").run()
    return at


def test_completions_on_an_unreachable_endpoint(completions, fault):
    at = completions
    typed = completions_settings(at)
    with Unaccepting() as unaccepting:
        addresses = {"refused": closed_port_url(), "dns": UNRESOLVABLE_URL,
                     "connect-timeout": unaccepting}
        for name, words in ADDRESS_FAULTS.items():
            point_at(at, FAULTY, addresses[name])
            assert_explained(at, name, words[:1])  # the model list fails in the sidebar
            at.sidebar.text_input(key=f"{state.MODEL_TYPED}::{FAULTY}").input("fault-model")
            completions_run(at)
            assert_explained(at, name, words)
            assert completions_settings(at) == typed
            point_at(at, FAULTY, None)
            completions_run(at)
            assert outputs(at) == [REPLY] and not at.error


def test_completions_a_reply_of_html_and_script_is_shown_as_text(completions, fault):
    at = completions
    fault.reply = "<b>bold</b><script>window.__pwned=1</script>"
    at.get_by_key(params.widget_key("completions", "logprobs")).set_value(1)
    completions_run(at)
    assert outputs(at) == [fault.reply]
    markup = [m.value for m in at.markdown if "<b>" in m.value or "<script" in m.value]
    assert markup == []
    for html in at.html:  # the token view: escaped, never the reply's own tags
        assert "<script" not in html.proto.body and "<b>" not in html.proto.body
    assert any("&lt;script&gt;" in html.proto.body for html in at.html)


# -- Chat ------------------------------------------------------------------------------------

CHAT_STREAMED = {  # replies stream on the Chat page: a 200 that is not events says so
    **{name: words for name, words in HTTP_FAULTS.items() if name not in STREAM_FAULTS},
    "not-json": ("not in the API's streaming format", "try again"),
}


def chat_settings(at) -> dict:
    keys = [chat_keys.CHAT_SYSTEM, chat_keys.CHAT_POLICY, chat_keys.CHAT_LIMIT] + [
        params.widget_key("chat", name) for name in params.specs_for("chat")]
    return {key: at.session_state[key] for key in keys if key in at.session_state}


def transcript(at) -> list[str]:
    return [block.value for message in at.chat_message for block in message.code]


def say(at, text: str):
    at.chat_input(key=chat_keys.CHAT_INPUT).set_value(text).run()
    return at


def ask_again(at):
    at.button(key=chat_keys.chat_action("reply", "-")).click().run()
    return at


@pytest.fixture
def chat_page(faulty):
    at = faulty
    open_page(at, pages.CHAT)
    at.text_area(key=chat_keys.CHAT_SYSTEM).input("Answer in one line.").run()
    at.get_by_key(params.widget_key("chat", "temperature")).set_value(0.6).run()
    at.get_by_key(params.widget_key("chat", "max_tokens")).set_value(40).run()
    say(at, "Hello")
    assert transcript(at) == ["Hello", REPLY]
    return at


def test_chat_after_each_fault_keeps_the_transcript_and_replies_again(chat_page, fault):
    at = chat_page
    typed = chat_settings(at)
    for number, (name, words) in enumerate(CHAT_STREAMED.items()):
        before = transcript(at)
        question = f"Question {number}"
        fault.fault = name
        say(at, question)
        assert_explained(at, name, words)
        assert transcript(at) == [*before, question], f"{name}: the message typed is kept"
        assert chat_settings(at) == typed, f"{name} changed a setting"
        fault.fault = "ok"
        ask_again(at)
        assert_clean(at)
        assert transcript(at) == [*before, question, REPLY], f"no reply after {name}"


def test_chat_on_an_unreachable_endpoint_keeps_the_message(chat_page):
    at = chat_page
    typed = chat_settings(at)
    with Unaccepting() as unaccepting:
        addresses = {"refused": closed_port_url(), "dns": UNRESOLVABLE_URL,
                     "connect-timeout": unaccepting}
        for number, (name, words) in enumerate(ADDRESS_FAULTS.items()):
            before = transcript(at)
            point_at(at, FAULTY, addresses[name])
            at.sidebar.text_input(key=f"{state.MODEL_TYPED}::{FAULTY}").input("fault-model")
            say(at, f"Anyone there? {number}")
            assert_explained(at, name, words)
            assert transcript(at) == [*before, f"Anyone there? {number}"]
            assert chat_settings(at) == typed
            point_at(at, FAULTY, None)
            ask_again(at)
            assert transcript(at)[-1] == REPLY


def test_chat_a_broken_stream_keeps_the_partial_reply_marked_incomplete(chat_page, fault):
    at = chat_page
    typed = chat_settings(at)
    for name, words in STREAM_FAULTS.items():
        fault.fault = name
        say(at, f"Tell me more ({name})")
        assert_explained(at, name, (words,))
        partial = transcript(at)[-1]
        assert partial and REPLY.startswith(partial) and partial != REPLY
        assert any(w.startswith("Incomplete:") and words in w for w in unescaped(at.warning))
        assert "finish: none (cut short)" in errors_shown(at)
        assert chat_settings(at) == typed
        fault.fault = "ok"
        say(at, "Go on")
        assert transcript(at)[-2:] == ["Go on", REPLY]


def session_total(at) -> str:
    return next(c for c in unescaped(at.sidebar.caption) if c.startswith("This session:"))


def test_chat_a_cut_stream_is_counted_and_listed_as_incomplete(chat_page, fault):
    at = chat_page
    assert session_total(at).startswith("This session: 1 request ·")
    fault.fault = "cut-quiet"
    say(at, "Tell me a long story")
    assert session_total(at).startswith("This session: 2 requests ·")
    open_page(at, pages.USAGE)
    table = next(frame.value for frame in at.dataframe if "status" in frame.value)
    assert list(table["status"]) == ["incomplete", "ok"]  # newest first
    assert list(table["error_kind"])[0] == "StreamInterrupted"


def test_chat_a_reply_of_html_and_script_is_shown_as_text(chat_page, fault):
    at = chat_page
    fault.reply = "<b>bold</b><script>window.__pwned=1</script>"
    say(at, "Some markup please")
    assert transcript(at)[-1] == fault.reply
    assert not [m.value for m in at.markdown if "<b>" in m.value or "<script" in m.value]
    assert not [h for h in at.html if "<script" in h.proto.body]


# -- Compare ---------------------------------------------------------------------------------

COMPARE_KEYS = ("compare.mode", "compare.system", "compare.user", "compare.vary",
                "compare.axis.model", "compare.samples", "compare.sampling",
                "compare.workers", "compare.max_cells")


def compare_settings(at) -> dict:
    keys = [*COMPARE_KEYS, *(f"compare.fixed.chat.{name}" for name in params.specs_for("chat"))]
    return {key: at.session_state[key] for key in keys if key in at.session_state}


def run_grid(at):
    click(at, "Run grid")
    return at


@pytest.fixture
def compare(faulty):
    at = faulty
    open_page(at, pages.COMPARE)
    at.text_area(key="compare.user").input("Describe the sea.").run()
    at.multiselect(key="compare.vary").set_value(["model"]).run()
    at.multiselect(key="compare.axis.model").set_value(["fault-model", "fault-model-b"]).run()
    at.slider(key="compare.fixed.chat.temperature").set_value(0.4).run()
    return at


def test_compare_a_failing_cell_leaves_the_others_and_runs_again(compare, fault):
    at = compare
    typed = compare_settings(at)
    for name, words in HTTP_FAULTS.items():
        fault.faults_by_model["fault-model-b"] = name
        run_grid(at)
        assert_explained(at, name, words)
        assert outputs(at) == [REPLY], f"{name}: the other cell is unaffected"
        assert "2 cells: 1 ok, 1 failed" in errors_shown(at)
        assert compare_settings(at) == typed, f"{name} changed the grid"
        fault.faults_by_model.clear()
        click(at, "Re-run the failed cell")
        assert_clean(at)
        assert outputs(at) == [REPLY, REPLY] and not at.error, f"no second run after {name}"


def test_compare_a_broken_stream_keeps_its_part_in_its_cell(compare, fault):
    at = compare
    at.checkbox(key="compare.fixed.chat.stream").check().run()
    for name, words in STREAM_FAULTS.items():
        fault.faults_by_model["fault-model-b"] = name
        run_grid(at)
        assert_explained(at, name, (words,))
        first, partial = outputs(at)
        assert first == REPLY and partial and REPLY.startswith(partial) and partial != REPLY
        assert "finish_reason: none (cut short)" in errors_shown(at)
        assert "2 cells: 1 ok, 1 failed" in errors_shown(at)
        fault.faults_by_model.clear()
        click(at, "Re-run the failed cell")
        assert outputs(at) == [REPLY, REPLY]


def test_compare_a_reply_of_html_and_script_is_shown_as_text(compare, fault):
    at = compare
    fault.reply = "<b>bold</b><script>window.__pwned=1</script>"
    run_grid(at)
    assert outputs(at) == [fault.reply, fault.reply]
    assert not [m.value for m in at.markdown if "<b>" in m.value or "<script" in m.value]


def test_compare_cells_on_unreachable_connections_fail_alone(compare, data_dir):
    at = compare
    save_connection(data_dir, "Refused", closed_port_url())
    save_connection(data_dir, "Nowhere", UNRESOLVABLE_URL)
    at.multiselect(key="compare.axis.model").set_value(
        ["fault-model", "fault-model @ Refused", "fault-model @ Nowhere"]).run()
    run_grid(at)
    assert_explained(at, "refused", ADDRESS_FAULTS["refused"])
    assert_explained(at, "dns", ADDRESS_FAULTS["dns"])
    assert outputs(at) == [REPLY]
    assert "3 cells: 1 ok, 2 failed" in errors_shown(at)


# -- Models ----------------------------------------------------------------------------------

LISTING_FAULTS = {
    "401": ("The server refused the API key (401)", "Check the API key"),
    "403": ("Access denied (403)", "check the account's access"),
    "404": ("lists no models", "Check the base URL"),
    "500": ("The server failed (500)", "try again"),
    "502": ("The server failed (502) and sent no API error", "try again"),
    "503": ("The server failed (503)", "try again"),
    "not-json": ("not JSON", "try again"),
    "cut": ("broke off before the server's answer was complete", "send again"),
    "hang": ("timed out", "raise the timeout"),
}


def refresh_models(at):
    at.sidebar.button[[b.label for b in at.sidebar.button].index("Refresh models")].click().run()
    return at


def test_models_a_listing_failure_is_explained_and_the_search_kept(faulty, fault):
    at = faulty
    open_page(at, pages.MODELS)
    at.text_input(key="models.search").input("fault").run()
    assert list(at.dataframe[0].value["id"]) == ["fault-model", "fault-model-b"]
    for name, words in LISTING_FAULTS.items():
        fault.fault = name
        refresh_models(at)
        assert_explained(at, name, words)
        assert not at.dataframe
        fault.fault = "ok"
        refresh_models(at)
        assert_clean(at)
        assert at.text_input(key="models.search").value == "fault"
        assert list(at.dataframe[0].value["id"]) == ["fault-model", "fault-model-b"]


def test_models_on_an_unreachable_endpoint(faulty):
    at = faulty
    open_page(at, pages.MODELS)
    for name, url in {"refused": closed_port_url(), "dns": UNRESOLVABLE_URL}.items():
        point_at(at, FAULTY, url)
        assert_explained(at, name, ADDRESS_FAULTS[name])
        point_at(at, FAULTY, None)
        assert_clean(at)
        assert at.dataframe


# -- Huge input ------------------------------------------------------------------------------

HUGE = "word " * 200_000  # a megabyte


def test_completions_a_huge_prompt_the_server_refuses_is_kept(faulty, fault):
    at = faulty
    at.text_area(key=completions_keys.COMPLETIONS_PROMPT).input(HUGE)
    fault.fault = "413"
    completions_run(at)
    assert_explained(at, "413", HTTP_FAULTS["413"])
    assert at.session_state[completions_keys.COMPLETIONS_PROMPT] == HUGE
    assert len(fault.requests[-1].body["prompt"]) == len(HUGE), "sent whole, refused there"
    fault.fault = "ok"
    completions_run(at)
    assert outputs(at) == [REPLY]
    assert_clean(at)


def test_chat_a_huge_message_the_server_refuses_is_kept(chat_page, fault):
    at = chat_page
    fault.fault = "context"
    say(at, HUGE)
    assert_explained(at, "context", HTTP_FAULTS["context"])
    assert transcript(at)[-1] == HUGE
    fault.fault = "ok"
    ask_again(at)
    assert transcript(at)[-2:] == [HUGE, REPLY]

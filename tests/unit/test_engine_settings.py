"""Choosing the engine settings: forced, remembered, or judged from a child's fate.

The children here are stand-ins (``python -c``) that pass, crash with SIGSEGV, fail or
hang, so every verdict is shown without the CPU that really crashes.
"""

from __future__ import annotations

import json
import logging
import os
import sys

import pytest

from playground.local import engine_settings
from playground.local.engine_settings import SAFE, VARIABLE, choose, known, probe

PASSES = (sys.executable, "-c", "print('loaded'); print('decoded')")
CRASHES_AT_LOAD = (sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
CRASHES_AT_DECODE = (sys.executable, "-c", "import os, signal; print('loaded', flush=True); "
                                           "os.kill(os.getpid(), signal.SIGSEGV)")
FAILS = (sys.executable, "-c", "import sys; sys.exit('cannot read the model file')")
HANGS = (sys.executable, "-c", "import time; time.sleep(60)")
NOT_A_PROGRAM = ("/nonexistent/python",)
AMX_XEON = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8", "sse4_2")
AVX2_ONLY = ("avx", "avx2", "sse4_2")


@pytest.fixture
def model(tmp_path, data_dir, monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF stand-in")
    return path


def verdicts(data_dir) -> dict:
    return json.loads((data_dir / engine_settings.VERDICTS_FILE).read_text())


def test_a_child_that_passes_chooses_the_fast_settings(model):
    choice = probe(model, command=PASSES)
    assert choice.fast
    assert "passed a test in a separate process" in choice.reason


def test_a_child_killed_by_sigsegv_at_load_chooses_the_safe_settings(model):
    choice = probe(model, command=CRASHES_AT_LOAD)
    assert choice.settings == SAFE
    assert choice.reason == ("the fast settings crashed with SIGSEGV while loading the model "
                             "in a test process")


def test_a_child_killed_by_sigsegv_at_the_first_decode_chooses_the_safe_settings(model):
    choice = probe(model, command=CRASHES_AT_DECODE)
    assert choice.settings == SAFE
    assert "crashed with SIGSEGV while decoding a prompt of a few dozen tokens" in choice.reason


def test_a_child_that_fails_is_reported_with_its_last_words(model):
    choice = probe(model, command=FAILS)
    assert choice.settings == SAFE
    assert "failed with exit code 1 (cannot read the model file)" in choice.reason


def test_a_child_that_hangs_counts_as_a_failure(model):
    choice = probe(model, command=HANGS, timeout=0.5)
    assert choice.settings == SAFE
    assert choice.reason == "the test of the fast settings did not finish within 0.5 s"


def test_a_child_that_cannot_start_counts_as_a_failure(model):
    choice = probe(model, command=NOT_A_PROGRAM)
    assert choice.settings == SAFE and "could not start" in choice.reason


def test_the_child_gets_the_model_threads_and_context(model, tmp_path):
    seen = tmp_path / "argv.json"
    command = (sys.executable, "-c", f"import json, sys; open({str(seen)!r}, 'w').write("
                                     "json.dumps(sys.argv[1:])); print('loaded'); print('decoded')")
    assert probe(model, command=command, n_threads=3, n_ctx=4096).fast
    assert json.loads(seen.read_text()) == [str(model), "--n-ctx", "4096", "--threads", "3"]


def test_a_verdict_is_remembered_and_not_tested_again(model, data_dir):
    first = choose(model, command=CRASHES_AT_LOAD, flags=AMX_XEON)
    again = choose(model, command=PASSES, flags=AMX_XEON)
    assert first.settings == again.settings == SAFE
    assert again.reason.startswith(first.reason) and "remembered" in again.reason
    (entry,) = verdicts(data_dir).values()
    assert entry["settings"] == SAFE and entry["model"] == str(model)


def test_the_verdict_belongs_to_the_cpu_flags(model, data_dir):
    assert choose(model, command=CRASHES_AT_DECODE, flags=AMX_XEON).settings == SAFE
    assert known(model, flags=AVX2_ONLY) is None
    assert choose(model, command=PASSES, flags=AVX2_ONLY).fast
    assert known(model, flags=AMX_XEON).settings == SAFE
    assert known(model, flags=AVX2_ONLY).fast
    assert len(verdicts(data_dir)) == 2


def test_another_llama_cpp_python_version_is_tested_again(model, monkeypatch):
    assert choose(model, command=CRASHES_AT_LOAD, flags=AMX_XEON).settings == SAFE
    monkeypatch.setattr(engine_settings, "_llama_cpp_version", lambda: "0.3.99")
    assert known(model, flags=AMX_XEON) is None
    assert choose(model, command=PASSES, flags=AMX_XEON).fast


def test_a_changed_model_file_is_tested_again(model):
    assert choose(model, command=PASSES, flags=AVX2_ONLY).fast
    model.write_bytes(b"GGUF another stand-in, longer")
    assert known(model, flags=AVX2_ONLY) is None
    assert choose(model, command=CRASHES_AT_LOAD, flags=AVX2_ONLY).settings == SAFE


def test_a_damaged_verdict_file_means_testing_again_and_is_rewritten(model, data_dir):
    (data_dir / engine_settings.VERDICTS_FILE).write_text("{not json")
    assert known(model) is None
    assert choose(model, command=PASSES).fast
    assert len(verdicts(data_dir)) == 1
    assert [p.name for p in data_dir.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("value, settings", [("1", "safe"), ("0", "fast")])
def test_the_variable_forces_the_settings_without_a_test(model, data_dir, monkeypatch, value,
                                                         settings):
    monkeypatch.setenv(VARIABLE, value)
    choice = choose(model, command=NOT_A_PROGRAM)
    assert choice.settings == settings
    assert f"{VARIABLE}={value}" in choice.reason
    assert not (data_dir / engine_settings.VERDICTS_FILE).exists()


def test_the_variable_wins_over_a_remembered_verdict(model, monkeypatch):
    assert choose(model, command=PASSES).fast
    monkeypatch.setenv(VARIABLE, "1")
    assert known(model).settings == SAFE


def test_an_unknown_value_of_the_variable_is_said_and_ignored(model, monkeypatch, caplog):
    monkeypatch.setenv(VARIABLE, "yes please")
    with caplog.at_level(logging.INFO, logger=engine_settings.__name__):
        choice = choose(model, command=PASSES)
    assert choice.fast
    assert "Ignoring PLAYGROUND_SAFE_ENGINE='yes please'" in caplog.records[0].getMessage()


def test_one_log_line_says_what_was_chosen_and_why(model, caplog):
    with caplog.at_level(logging.INFO, logger=engine_settings.__name__):
        choose(model, command=CRASHES_AT_DECODE)
    (record,) = caplog.records
    assert record.getMessage().startswith("Engine settings for model.gguf: safe, because the "
                                          "fast settings crashed with SIGSEGV while decoding")


def test_a_verdict_that_cannot_be_saved_is_still_used(model, data_dir, caplog):
    (data_dir / engine_settings.VERDICTS_FILE).mkdir()
    with caplog.at_level(logging.WARNING, logger=engine_settings.__name__):
        assert choose(model, command=PASSES).fast
    assert "Could not remember" in caplog.records[0].getMessage()


def test_this_machines_cpu_flags_are_read():
    flags = engine_settings.cpu_flags()
    assert flags and all(isinstance(flag, str) for flag in flags)
    if os.path.exists("/proc/cpuinfo") and os.uname().machine == "x86_64":
        assert "sse2" in flags

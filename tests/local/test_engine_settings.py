"""The engine settings with the real llama.cpp: the probe child on the real models, the
safe settings really switching off the repacked weight buffers, and the choice in the
model's description.

The CPU that crashes is not needed: the crash is played by the real probe child whose
decode kills it with SIGSEGV after the model has really loaded.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from playground.local import engine_settings
from playground.local.choice_run import Generation
from playground.local.engine import LocalModel
from playground.local.engine_settings import SAFE, VARIABLE, choose, probe
from playground.local.sampling import SamplingSettings
from playground.local.served_models import DEFAULT_MODEL, discover

CRASH_AT_FIRST_DECODE = (sys.executable, "-c", textwrap.dedent("""
    import os, signal, sys
    from playground.local import engine_probe

    def crash(llm):
        os.kill(os.getpid(), signal.SIGSEGV)

    engine_probe.decode = crash
    engine_probe.main(sys.argv[1:])
"""))
LOAD_VERBOSELY = textwrap.dedent("""
    import sys
    from pathlib import Path
    from playground.local import llama_loader

    llm = llama_loader.load(Path(sys.argv[1]), fast=sys.argv[2] == "fast", n_ctx=512,
                            verbose=True)
    print("use_extra_bufts", llm.model_params.use_extra_bufts)
""")


@pytest.fixture(scope="module")
def smollm():
    return discover()[DEFAULT_MODEL].locate()


def test_the_real_probe_passes_on_this_machine(smollm):
    choice = probe(smollm)
    assert choice.fast, choice.reason


def test_the_real_probe_dying_at_its_first_decode_means_safe_settings(smollm):
    choice = probe(smollm, command=CRASH_AT_FIRST_DECODE)
    assert choice.settings == SAFE
    assert choice.reason == ("the fast settings crashed with SIGSEGV while decoding a prompt "
                             "of a few dozen tokens in a test process")


def test_the_probe_prompt_is_a_few_dozen_tokens(smollm):
    from playground.local import engine_probe, llama_loader

    llm = llama_loader.load(smollm, fast=False, vocab_only=True, verbose=False)
    assert 30 <= len(llm.tokenize(engine_probe.PROMPT.encode())) <= 100


def test_a_model_whose_probe_crashed_runs_with_the_safe_settings(smollm, data_dir, monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    choose(smollm, command=CRASH_AT_FIRST_DECODE)  # remembered for this machine
    model = LocalModel(discover()[DEFAULT_MODEL])
    assert model.engine_description()["settings"] == SAFE  # known before it loads
    assert model.llm.model_params.use_extra_bufts is False
    assert model.engine.settings == SAFE and "remembered" in model.engine.reason
    prompt = model.tokenize("Once upon a time, in a small village by the sea, there lived")
    outputs = list(model.generate(prompt, Generation(SamplingSettings(temperature=0), 8)))
    assert outputs[-1].generated == 8 and outputs[-1].text


def test_a_model_not_loaded_nor_tested_says_so(smollm, data_dir, monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    assert LocalModel(discover()[DEFAULT_MODEL]).engine_description()["settings"] == \
        "not chosen yet"


def _load_log(path, settings: str) -> str:
    done = subprocess.run([sys.executable, "-c", LOAD_VERBOSELY, str(path), settings],
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout + done.stderr


def test_the_safe_settings_switch_off_the_repacked_weights():
    gemma = discover()["gemma-3-270m"].locate()  # Q4_K: repacked on x86 with AVX2
    fast, safe = _load_log(gemma, "fast"), _load_log(gemma, "safe")
    assert "use_extra_bufts True" in fast and "use_extra_bufts False" in safe
    if "avx2" not in engine_settings.cpu_flags():
        pytest.skip("llama.cpp repacks Q4_K weights only on CPUs with AVX2 here")
    assert "CPU_REPACK model buffer size" in fast
    assert "CPU_REPACK" not in safe


def test_the_model_description_says_which_settings_and_why(client):
    client.completions.create(model=DEFAULT_MODEL, prompt="Hi", max_tokens=1)
    engine = client.models.retrieve(DEFAULT_MODEL).model_extra["engine"]
    assert engine["settings"] in ("fast", "safe")
    assert engine["reason"]
    listed = {m.id: m.model_extra for m in client.models.list().data}
    assert listed[DEFAULT_MODEL]["engine"] == engine

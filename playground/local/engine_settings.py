"""Which engine settings a model runs with, fast or safe, chosen by evidence.

The fast settings let llama.cpp keep weights repacked for the CPU (``llama_loader``). On
some CPUs that kills the process on the first real request (Intel Xeons with AMX and
llama-cpp-python 0.3.36 built from source: SIGSEGV in ``decode``), and a crash inside
llama.cpp cannot be caught. So the fast settings are first tried in a throwaway child
process (``engine_probe``); if it crashes, fails or times out, the model runs with the safe
settings. The verdict is remembered in ``engine-settings.json`` in the data folder, keyed
by the CPU's flags, the llama-cpp-python version and the model file (path, size,
modification time): each combination is tried once, before its first load.

``PLAYGROUND_SAFE_ENGINE=1`` forces the safe settings and ``=0`` the fast ones, with no
test (``python -m playground.local --safe-engine`` sets the former).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from playground.local import remembered

VARIABLE = "PLAYGROUND_SAFE_ENGINE"
VERDICTS_FILE = "engine-settings.json"
PROBE_COMMAND = (sys.executable, "-m", "playground.local.engine_probe")
PROBE_TIMEOUT = 60.0
STAGES = ("loaded", "decoded")  # what engine_probe prints as it gets past each stage
FAST, SAFE = "fast", "safe"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineChoice:
    settings: str  # FAST or SAFE
    reason: str

    @property
    def fast(self) -> bool:
        return self.settings == FAST

    def as_dict(self) -> dict:
        return {"settings": self.settings, "reason": self.reason}


def choose(path: Path, *, n_threads: int | None = None, n_ctx: int = 2048,
           flags: tuple[str, ...] | None = None, command: tuple[str, ...] = PROBE_COMMAND,
           timeout: float = PROBE_TIMEOUT) -> EngineChoice:
    """The settings to load ``path`` with: forced, remembered, or tested now in a child."""
    variable = os.environ.get(VARIABLE, "").strip()
    if variable and _forced() is None:
        log.warning("Ignoring %s=%r: it takes 1 (safe settings) or 0 (fast settings).",
                    VARIABLE, variable)
    choice = known(path, flags)
    if choice is None:
        choice = probe(path, n_threads=n_threads, n_ctx=n_ctx, command=command, timeout=timeout)
        _remember(verdict_key(path, flags), path, choice)
    log.info("Engine settings for %s: %s, because %s.", path.name, choice.settings, choice.reason)
    return choice


def known(path: Path, flags: tuple[str, ...] | None = None) -> EngineChoice | None:
    """The forced or remembered choice for ``path``; None until it has been tested."""
    forced = _forced()
    if forced is not None:
        return forced
    entry = remembered.read(VERDICTS_FILE).get(verdict_key(path, flags))
    if not isinstance(entry, dict) or entry.get("settings") not in (FAST, SAFE):
        return None
    return EngineChoice(entry["settings"], f"{entry.get('reason', 'tested earlier')} (tested "
                                           f"{entry.get('decided', 'earlier')}, remembered)")


def _forced() -> EngineChoice | None:
    value = os.environ.get(VARIABLE, "").strip()
    if value == "1":
        return EngineChoice(SAFE, f"{VARIABLE}=1 asks for them")
    if value == "0":
        return EngineChoice(FAST, f"{VARIABLE}=0 asks for them, untested")
    return None


def probe(path: Path, *, n_threads: int | None = None, n_ctx: int = 2048,
          command: tuple[str, ...] = PROBE_COMMAND, timeout: float = PROBE_TIMEOUT) -> EngineChoice:
    """Try the fast settings on ``path`` in a child process and judge by how it ends."""
    args = [*command, str(path), "--n-ctx", str(n_ctx)]
    if n_threads is not None:
        args += ["--threads", str(n_threads)]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[2])
    except subprocess.TimeoutExpired:
        return EngineChoice(SAFE, f"the test of the fast settings did not finish within "
                                  f"{timeout:g} s")
    except OSError as exc:
        return EngineChoice(SAFE, f"the test of the fast settings could not start ({exc})")
    reached = [line for line in done.stdout.split() if line in STAGES]
    if done.returncode == 0 and reached[-1:] == [STAGES[-1]]:
        return EngineChoice(FAST, "they passed a test in a separate process: the model loaded "
                                  "and decoded a prompt of a few dozen tokens")
    where = ("while loading the model" if not reached
             else "while decoding a prompt of a few dozen tokens" if reached[-1] == STAGES[0]
             else "after decoding")
    if done.returncode < 0:
        how = f"crashed with {_signal_name(-done.returncode)}"
    else:
        last = done.stderr.strip().splitlines()[-1:] or [""]
        how = f"failed with exit code {done.returncode}"
        if last[0]:
            how += f" ({last[0][:200]})"
    return EngineChoice(SAFE, f"the fast settings {how} {where} in a test process")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@cache
def cpu_flags() -> tuple[str, ...]:
    """The CPU's feature flags (x86 ``flags``, Arm ``Features``), or what platform says."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return tuple(sorted(set(value.split())))
    return (platform.machine(), platform.processor())


def _llama_cpp_version() -> str:
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return "unknown"


def verdict_key(path: Path, flags: tuple[str, ...] | None = None) -> str:
    """What a verdict depends on, hashed: CPU flags, llama-cpp-python, the model file."""
    stat = path.stat()
    material = [sorted(cpu_flags() if flags is None else flags), _llama_cpp_version(),
                str(path.resolve()), stat.st_size, stat.st_mtime_ns]
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()


def _remember(key: str, path: Path, choice: EngineChoice) -> None:
    remembered.store(VERDICTS_FILE, key, {
        **choice.as_dict(), "decided": time.strftime("%Y-%m-%d"), "model": str(path),
        "llama_cpp_python": _llama_cpp_version()})

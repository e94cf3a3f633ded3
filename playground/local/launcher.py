"""Start the local server as a child process on a stable loopback port, once per app process.

The app calls ``local_server().ensure_running()`` before each use of the local connection:
the first call starts ``python -m playground.local`` and waits for its health check; later
calls (reruns, other sessions) reuse it. ``PLAYGROUND_LOCAL_URL`` points the app at a server
that is already running instead; ``PLAYGROUND_LOCAL_SERVER_COMMAND`` runs another server
build (a command line, given ``--host`` and ``--port``).

The server listens on port 8765 (or ``PLAYGROUND_LOCAL_PORT``), so code copied from the app
keeps working from one day to the next; only when that port is taken does it take a free
one, and keeps that one while the app runs.

A server that dies has crashed, and says so: the crash (its signal or exit code, and the
last lines of its log) is recorded, a request that was out when it happened gets it as a
``LocalServerCrashed`` (``crash_behind``), and the server is started again at once. After
three crashes within a minute it is not started again: every later use raises the crash,
with the way out (safe engine settings).
"""

from __future__ import annotations

import atexit
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from playground.errors import LocalServerCrashed, LocalServerFailed
from playground.settings import data_dir, private_opener

URL_VARIABLE = "PLAYGROUND_LOCAL_URL"
COMMAND_VARIABLE = "PLAYGROUND_LOCAL_SERVER_COMMAND"
PORT_VARIABLE = "PLAYGROUND_LOCAL_PORT"
SAFE_ENGINE_VARIABLE = "PLAYGROUND_SAFE_ENGINE"
DEFAULT_PORT = 8765
CRASH_LIMIT = 3  # crashes within CRASH_WINDOW seconds after which no restart is tried
CRASH_WINDOW = 60.0
LOG_TAIL_LINES = 20
REAP_SECONDS = 1.0  # how long a failed request waits to see whether the server died
START_SECONDS = 60.0
GIVE_UP_HINT = (f"Set {SAFE_ENGINE_VARIABLE}=1 (safe CPU settings for llama.cpp) and restart "
                "the app; `python -m playground.local --safe-engine` does the same for a server "
                "started by hand. The log's last lines are below.")
START_AGAIN_HINT = (f"Send again to start it once more. If it keeps crashing, set "
                    f"{SAFE_ENGINE_VARIABLE}=1 (safe CPU settings for llama.cpp) and restart "
                    f"the app.")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on the port (as uvicorn does, with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def configured_port() -> int:
    """``PLAYGROUND_LOCAL_PORT``, or 8765."""
    value = os.environ.get(PORT_VARIABLE, "").strip()
    if not value:
        return DEFAULT_PORT
    if value.isdigit() and 0 < int(value) < 65536:
        return int(value)
    raise LocalServerFailed(f"{PORT_VARIABLE}={value!r} is not a port number.",
                            hint=f"Set it to a number from 1 to 65535, or unset it to use "
                                 f"{DEFAULT_PORT}.")


def configured_command() -> list[str]:
    """``PLAYGROUND_LOCAL_SERVER_COMMAND`` split as a shell would, or the embedded server."""
    line = os.environ.get(COMMAND_VARIABLE, "").strip()
    return shlex.split(line) if line else [sys.executable, "-m", "playground.local"]


def wait_healthy(base_url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Poll ``/health`` until it answers; fail early if the process exits."""
    deadline = time.monotonic() + timeout
    health = base_url.removesuffix("/v1") + "/health"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise LocalServerFailed(
                f"The local server exited with code {process.returncode} while starting.")
        try:
            with urllib.request.urlopen(health, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise LocalServerFailed(f"The local server did not answer at {health} within {timeout:.0f} s.")


def cause_of(returncode: int) -> str:
    """A dead process's return code in words: ``SIGSEGV`` for -11, ``exit code 3`` for 3."""
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


def log_tail(path: Path, start: int = 0, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines written to the log from byte ``start`` on."""
    try:
        with open(path, "rb") as log:
            log.seek(start)
            text = log.read()[-64_000:].decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Crash:
    """One death of the server's process that the launcher did not cause."""

    at: float  # time.monotonic() when it was found
    cause: str  # "SIGSEGV", "exit code 1"
    during: str  # "starting" or "answering"
    log_path: Path
    log_tail: str

    def error(self, message: str, hint: str | None = None) -> LocalServerCrashed:
        return LocalServerCrashed(message, hint=hint, log_tail=self.log_tail,
                                  log_path=str(self.log_path))


class LocalServer:
    """One child server process, restarted when it crashes, but not in a loop."""

    def __init__(self, host: str = "127.0.0.1", log_path: Path | None = None,
                 command: list[str] | None = None, port: int | None = None):
        self.host = host
        self.log_path = log_path
        self.command = command or configured_command()
        self.preferred_port = port or configured_port()
        self.port: int | None = None  # the port in use, or planned: see planned_url
        self.process: subprocess.Popen | None = None
        self.crashes: list[Crash] = []
        self.given_up = False  # crashed CRASH_LIMIT times within CRASH_WINDOW
        self._log_start = 0  # where this process's output begins in the log
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str | None:
        return f"http://{self.host}:{self.port}/v1" if self.port else None

    @property
    def fell_back(self) -> bool:
        """Whether the preferred port was taken, so the server uses another."""
        return self.port is not None and self.port != self.preferred_port

    def planned_url(self) -> str:
        """The base URL the server answers at, or will once started; starts nothing."""
        external = os.environ.get(URL_VARIABLE)
        if external:
            return external
        if self.port is None:
            self.port = self._port_to_use()
        return f"http://{self.host}:{self.port}/v1"

    def address_note(self) -> str:
        """Markdown saying where ``planned_url`` comes from, and how to serve the same
        models at that address without the app."""
        if os.environ.get(URL_VARIABLE):
            return f"Set by {URL_VARIABLE}: a server already running."
        self.planned_url()
        taken = (f"Port {self.preferred_port} is taken, so the app's server listens on "
                 f"{self.port} while the app runs. " if self.fell_back else "")
        return (f"{taken}`python -m playground.local --port {self.port}` serves the same "
                f"models there on its own.")

    def ensure_running(self, timeout: float = START_SECONDS) -> str:
        external = os.environ.get(URL_VARIABLE)
        if external:
            return external
        with self._lock:
            self._reap()
            if self.process is None:
                self._start(timeout)
            assert self.base_url
            return self.base_url

    def crash_behind(self, sent: float) -> LocalServerCrashed | None:
        """The crash that cut off a request sent at ``sent`` (``time.monotonic()``), if the
        server died since; it is started again before this returns, so that the next
        request works (unless it keeps crashing). None if the server did not die."""
        if os.environ.get(URL_VARIABLE):
            return None
        with self._lock:
            self._reap(wait=REAP_SECONDS)
            crash = next((c for c in reversed(self.crashes) if c.at >= sent), None)
            if crash is None:
                return None
            if self.process is None:
                try:
                    self._start(START_SECONDS)
                except LocalServerCrashed as failure:
                    if self.given_up:
                        return failure
                    return self.crashes[-1].error(
                        f"The local model server crashed ({crash.cause}) while {crash.during}, "
                        f"and again ({self.crashes[-1].cause}) when started anew.",
                        START_AGAIN_HINT)
                except LocalServerFailed as failure:
                    return LocalServerCrashed(
                        f"The local model server crashed ({crash.cause}) while {crash.during}, "
                        f"and could not be started again: {failure.message}", hint=failure.hint,
                        log_tail=failure.log_tail, log_path=failure.log_path)
            return crash.error(f"The local model server crashed ({crash.cause}) while "
                               f"{crash.during}; it has been restarted.")

    def _reap(self, wait: float = 0.0) -> None:
        """Record the crash of a process that died (waiting up to ``wait`` seconds for it)."""
        if self.process is None:
            return
        try:
            code = self.process.wait(timeout=wait) if wait else self.process.poll()
        except subprocess.TimeoutExpired:
            return
        if code is not None:
            self._record(code, "answering")

    def _record(self, code: int, during: str) -> Crash:
        log_path = self._log_file()
        crash = Crash(time.monotonic(), cause_of(code), during, log_path,
                      log_tail(log_path, self._log_start))
        self.crashes.append(crash)
        self.process = None
        recent = [c for c in self.crashes if c.at > crash.at - CRASH_WINDOW]
        self.given_up = self.given_up or len(recent) >= CRASH_LIMIT
        return crash

    def _refusal(self) -> LocalServerCrashed:
        last = self.crashes[-1]
        return last.error(f"The local model server crashed {len(self.crashes)} times within "
                          f"a minute (last: {last.cause} while {last.during}), so it is not "
                          f"started again.", GIVE_UP_HINT)

    def _log_file(self) -> Path:
        return self.log_path or data_dir() / "local-server.log"

    def _port_to_use(self) -> int:
        """The preferred port, else the one used before, else any free one."""
        for port in dict.fromkeys(p for p in (self.preferred_port, self.port) if p):
            if port_is_free(self.host, port):
                return port
        return free_port(self.host)

    def _start(self, timeout: float) -> None:
        if self.given_up:
            raise self._refusal()
        self.port = self._port_to_use()
        log_path = self._log_file()
        with open(log_path, "ab", opener=private_opener) as log:
            self._log_start = log.tell()
            self.process = subprocess.Popen(
                [*self.command, "--host", self.host, "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=Path(__file__).resolve().parents[2],
            )
        try:
            wait_healthy(self.base_url, timeout, self.process)
        except LocalServerFailed as failure:
            code = self.process.poll()
            if code is not None:
                crash = self._record(code, "starting")
                if self.given_up:
                    raise self._refusal() from None
                raise crash.error(f"The local model server crashed ({crash.cause}) while "
                                  f"starting.", START_AGAIN_HINT) from None
            self.stop()
            failure.hint = f"See the server's log at {log_path}."
            failure.log_path = str(log_path)
            failure.log_tail = log_tail(log_path, self._log_start)
            raise

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


_server: LocalServer | None = None
_server_lock = threading.Lock()


def local_server() -> LocalServer:
    """The process-wide local server, shared by every session of the app."""
    global _server
    with _server_lock:
        if _server is None:
            _server = LocalServer()
            atexit.register(_server.stop)
        return _server

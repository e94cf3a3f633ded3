"""Start the local server as a child process on a free loopback port, once per app process.

The app calls ``local_server().ensure_running()`` before each use of the local connection:
the first call starts ``python -m playground.local`` and waits for its health check; later
calls (reruns, other sessions) reuse it, and a server that died is started again.
``PLAYGROUND_LOCAL_URL`` points the app at a server that is already running instead.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from playground.errors import LocalServerFailed
from playground.settings import data_dir, private_opener

URL_VARIABLE = "PLAYGROUND_LOCAL_URL"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_healthy(base_url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Poll ``/health`` until it answers; fail early if the process exits."""
    deadline = time.monotonic() + timeout
    health = base_url.removesuffix("/v1") + "/health"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise LocalServerFailed(f"The local server exited with code {process.returncode} while starting.")
        try:
            with urllib.request.urlopen(health, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise LocalServerFailed(f"The local server did not answer at {health} within {timeout:.0f} s.")


class LocalServer:
    """One child server process, restarted when it is found dead."""

    def __init__(self, host: str = "127.0.0.1", log_path: Path | None = None,
                 command: list[str] | None = None):
        self.host = host
        self.log_path = log_path
        self.command = command or [sys.executable, "-m", "playground.local"]
        self.process: subprocess.Popen | None = None
        self.base_url: str | None = None
        self._lock = threading.Lock()

    def ensure_running(self, timeout: float = 60.0) -> str:
        external = os.environ.get(URL_VARIABLE)
        if external:
            return external
        with self._lock:
            if self.process is None or self.process.poll() is not None:
                self._start(timeout)
            assert self.base_url
            return self.base_url

    def _start(self, timeout: float) -> None:
        port = free_port(self.host)
        log_path = self.log_path or data_dir() / "local-server.log"
        with open(log_path, "ab", opener=private_opener) as log:
            self.process = subprocess.Popen(
                [*self.command, "--host", self.host, "--port", str(port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=Path(__file__).resolve().parents[2],
            )
        self.base_url = f"http://{self.host}:{port}/v1"
        try:
            wait_healthy(self.base_url, timeout, self.process)
        except LocalServerFailed as failure:
            self.stop()
            failure.hint = f"See the server's log at {log_path}."
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

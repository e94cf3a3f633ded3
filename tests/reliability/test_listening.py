"""With the shipped .streamlit/config.toml, ``streamlit run app.py`` listens on loopback only.

The app is started as a user starts it (no ``--server.address``), and every TCP socket the
process listens on is read from the kernel's tables, /proc/net/tcp and /proc/net/tcp6.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from playground.local.launcher import free_port

ROOT = Path(__file__).resolve().parents[2]
LISTEN = "0A"  # the TCP state column's value for a listening socket

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(),
                                reason="reads Linux's /proc/net/tcp")


def socket_inodes(pid: int) -> set[str]:
    """The inode numbers of the sockets a process holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def kernel_address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as /proc/net/tcp{,6} writes it: 32-bit words in the host's byte order."""
    raw = bytes.fromhex(hex_address)
    words = [raw[i:i + 4][::-1] if sys.byteorder == "little" else raw[i:i + 4]
             for i in range(0, len(raw), 4)]
    return ipaddress.ip_address(b"".join(words))


def listening(pid: int) -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """(address, port) of every TCP socket the process listens on."""
    inodes = socket_inodes(pid)
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == LISTEN and inode in inodes:
                address, port = local.split(":")
                found.append((kernel_address(address), int(port, 16)))
    return found


def is_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def test_reading_the_kernel_tables_sees_loopback_and_wildcard_sockets():
    import socket

    with socket.socket() as everywhere, socket.socket() as here:
        everywhere.bind(("0.0.0.0", 0))
        here.bind(("127.0.0.1", 0))
        everywhere.listen()
        here.listen()
        seen = {port: address for address, port in listening(os.getpid())}
        wildcard, loopback = seen[everywhere.getsockname()[1]], seen[here.getsockname()[1]]
    assert wildcard == ipaddress.ip_address("0.0.0.0") and not is_loopback(wildcard)
    assert loopback == ipaddress.ip_address("127.0.0.1") and is_loopback(loopback)


def test_the_app_listens_on_loopback_only(tmp_path):
    port = free_port()
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("STREAMLIT_", "OPENAI_"))}
    environment["PLAYGROUND_DATA_DIR"] = str(tmp_path / "data")
    log = tmp_path / "streamlit.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
            cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", process, log)
        sockets = listening(process.pid)
        assert port in {listened for _address, listened in sockets}, sockets
        assert sockets and all(is_loopback(address) for address, _port in sockets), sockets
        assert "Network URL" not in log.read_text()
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"streamlit exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    pytest.fail(f"streamlit did not become healthy:\n{log.read_text()[-3000:]}")

"""What could expose a key or the machine: ignored secret files, View code, the app's and the
local server's addresses, and saved connections.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from playground import codegen, runner
from playground.connection import Connection, SavedConnections
from playground.local import launcher
from playground.local.__main__ import parse_args

ROOT = Path(__file__).resolve().parents[2]
KEY = "gwkey-exposure-0123456789abcdef"


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs a git checkout")
@pytest.mark.parametrize("path", [".env", ".streamlit/secrets.toml", "sub/.env"])
def test_secret_files_are_ignored_by_git(path):
    answer = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT,
                            timeout=30)
    assert answer.returncode == 0, f"{path} is not in .gitignore"


def test_the_streamlit_config_itself_is_not_ignored():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    answer = subprocess.run(["git", "check-ignore", "--no-index", "-q",
                             ".streamlit/config.toml"], cwd=ROOT, timeout=30)
    assert answer.returncode == 1


@pytest.mark.parametrize("endpoint, content", [
    ("chat", {"messages": [{"role": "user", "content": "Hi"}]}),
    ("completions", {"prompt": "Hi"}),
])
def test_view_code_reads_the_key_from_the_environment_never_inlines_it(endpoint, content):
    for base_url in ("https://api.openai.com/v1", "http://127.0.0.1:9/v1"):
        conn = Connection("Keyed", base_url=base_url, api_key=KEY, organization="org-1")
        request = runner.build_request(endpoint, "m", {"temperature": 0.5, "stream": True},
                                       **content)
        snippets = codegen.snippets_for(conn, endpoint, request)
        assert KEY not in snippets.python and KEY not in snippets.curl
        assert "OPENAI_API_KEY" in snippets.python + snippets.curl


def test_a_saved_connection_keeps_everything_but_the_key(tmp_path):
    saved = SavedConnections(tmp_path / "connections.json")
    saved.save(Connection("Keyed", base_url="http://127.0.0.1:9/v1", api_key=KEY))
    assert KEY not in (tmp_path / "connections.json").read_text()
    (loaded,) = saved.load()
    assert loaded.api_key is None and loaded.base_url == "http://127.0.0.1:9/v1"
    assert "api_key" not in json.loads((tmp_path / "connections.json").read_text())[0]
    assert KEY not in repr(Connection("Keyed", api_key=KEY))


def test_the_local_server_binds_to_loopback_unless_told_otherwise():
    assert parse_args([]).host == "127.0.0.1"
    assert parse_args(["--host", "0.0.0.0"]).host == "0.0.0.0"
    assert launcher.LocalServer().host == "127.0.0.1"


def test_the_shipped_config_serves_this_machine_only():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"

"""The code passes ruff and keeps its import rules (both configured in pyproject.toml), so
``python -m pytest`` checks them as ``.ci/run`` does; and the import rules do catch a breach."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = ("import sys; from importlinter.cli import lint_imports; "
                "sys.exit(lint_imports(no_cache=True, no_logo=True))")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_code_passes_ruff():
    result = run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format=concise",
                  "."], ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_import_rules_are_kept():
    result = run([sys.executable, "-c", LINT_IMPORTS], ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.fixture
def copy_of_the_code(tmp_path: Path) -> Path:
    """The packages the rules cover and their configuration, to be broken on purpose."""
    for package in ("playground", "ui", "pages"):
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.parametrize("module, line, contract", [
    ("playground/lint_probe.py", "import streamlit", "The core never imports Streamlit"),
    ("playground/lint_probe.py", "from streamlit import session_state",
     "The core never imports Streamlit"),
    ("playground/lint_probe.py", "from ui.common import sidebar",
     "Pages build on the widgets, the widgets on the core, never the other way"),
    ("ui/lint_probe.py", "import pages.chat",
     "Pages build on the widgets, the widgets on the core, never the other way"),
    ("pages/models.py", "import pages.usage", "A page never imports another page"),
    ("ui/chat/lint_probe.py", "from ui.compare import grid_setup",
     "The pages' ui packages meet only through each other's __init__"),
    ("ui/common/lint_probe.py", "from ui import chat",
     "ui/common is shared by the pages' ui packages and imports none of them"),
    ("pages/chat.py", "from ui import compare", "The Chat page imports only ui.chat and ui.common"),
], ids=["core imports streamlit", "core imports from streamlit", "core imports ui",
        "ui imports a page", "page imports a page", "ui package reaches into another",
        "ui/common imports a page's package", "page imports another page's package"])
def test_a_forbidden_import_breaks_its_rule(copy_of_the_code, module, line, contract):
    path = copy_of_the_code / module
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(existing + f"\n{line}\n", encoding="utf-8")
    result = run([sys.executable, "-c", LINT_IMPORTS], copy_of_the_code)
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout, result.stdout[-4000:]

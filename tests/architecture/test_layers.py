"""The engine's structure, checked: its layers and acyclicity (import-linter, contracts in pyproject.toml),
imports inside functions only where a reason is given, and the packages setuptools installs."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"
LINT = Path(sys.executable).with_name("lint-imports")
MAX_LAZY_IMPORTS = 25

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed (scripts/install.sh --test)")


def lint(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_engine_keeps_its_contracts():
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("engine layers", "the engine never imports Qt", "no import cycles among the modules of any package"):
        assert f"{name} KEPT" in done.stdout


def copy_engine(dest: Path) -> Path:
    """The engine's Python files as package ``spotdiff`` under ``dest``, with the project's contracts."""
    shutil.copytree(ENGINE, dest / "spotdiff", ignore=lambda d, names: [
        n for n in names if not n.endswith(".py") and not (Path(d) / n).is_dir() or n == "__pycache__"])
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest / "spotdiff"


@pytest.mark.slow
def test_an_upward_import_or_a_cycle_breaks_the_contracts(tmp_path):
    copy = copy_engine(tmp_path)
    with open(copy / "analysis" / "stats.py", "a", encoding="utf-8") as fp:
        fp.write("\n\ndef _upward():\n    from ..apps import cli  # lazy: a deliberate upward import\n")
    done = lint(tmp_path, pythonpath=tmp_path)
    assert done.returncode == 1, done.stdout
    assert "engine layers BROKEN" in done.stdout and "spotdiff.analysis.stats -> spotdiff.apps.cli" in done.stdout


def test_a_cycle_in_a_fixture_package_breaks_the_acyclic_contract(tmp_path):
    package = tmp_path / "cyclepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text("from . import second\n")
    (package / "second.py").write_text("def later():\n    from . import first  # lazy: the cycle\n")
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_package = cyclepkg\n\n[importlinter:contract:acyclic]\nname = no cycles\n"
        "type = acyclic_siblings\nancestors =\n    cyclepkg\n")
    done = lint(tmp_path, pythonpath=tmp_path)
    assert done.returncode == 1, done.stdout
    assert "no cycles BROKEN" in done.stdout
    (package / "second.py").write_text("def later():\n    return 1\n")
    assert lint(tmp_path, pythonpath=tmp_path).returncode == 0


INDENTED_IMPORT = re.compile(r"^\s{4,}(from|import) ")


def indented_imports() -> list[tuple[Path, int, str]]:
    """Import statements inside a function, class or block of the engine (the AST's view, not a grep)."""
    found = []
    for path in sorted(ENGINE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and node.col_offset > 0:
                found.append((path.relative_to(ROOT), node.lineno, lines[node.lineno - 1]))
    return found


def test_imports_inside_functions_are_few_and_each_says_why():
    found = indented_imports()
    assert len(found) <= MAX_LAZY_IMPORTS, "\n".join(f"{p}:{n}: {line.strip()}" for p, n, line in found)
    unexplained = [f"{p}:{n}: {line.strip()}" for p, n, line in found if "# lazy: " not in line]
    assert not unexplained, "an import inside a function needs '# lazy: <reason>':\n" + "\n".join(unexplained)
    # the same count as a line-based look (what a reviewer greps), so no docstring line hides an import
    grepped = sum(1 for path in ENGINE.rglob("*.py") for line in path.read_text(encoding="utf-8").splitlines()
                  if INDENTED_IMPORT.match(line))
    assert grepped == len(found)


def test_setuptools_installs_every_package_of_both_folders():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert config["package-dir"] == {"spotdiff": "engine", "spotdiff.gui": "desktop"}
    folders = {"spotdiff" + ("." + ".".join(p.parent.relative_to(ENGINE).parts) if p.parent != ENGINE else "")
               for p in ENGINE.rglob("__init__.py")} | {"spotdiff.gui"}
    assert set(config["packages"]) == folders

"""The desktop app talks to the engine through its public API (spotdiff.__all__) and nothing else."""

import ast
from pathlib import Path

import spotdiff
DESKTOP = Path(__file__).resolve().parents[2] / "desktop"


def engine_names_used(path: Path) -> set[str]:
    """Names the module takes from the engine; fails on any import of an engine submodule."""
    used = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "engine":
            assert node.module == "engine", f"{path.name} imports {node.module}, not part of the public API"
            used |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] != "engine" or alias.name == "engine", (path.name, alias.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "engine":
            used.add(node.attr)
    return used


def test_desktop_uses_only_names_in_engine_all():
    used = set().union(*(engine_names_used(p) for p in DESKTOP.glob("*.py")))
    assert {"compare", "CompareRequest", "FeatureLibrary", "embedding_map"} <= used
    assert used <= set(spotdiff.__all__), sorted(used - set(spotdiff.__all__))

"""The desktop app talks to the engine through its public API (spotdiff.__all__) and nothing else."""

import ast
from pathlib import Path

import spotdiff

DESKTOP = Path(__file__).resolve().parents[2] / "desktop"


def is_engine_module(name: str) -> bool:
    return name.split(".")[0] == "spotdiff" and not name.startswith("spotdiff.gui")


def engine_names_used(path: Path) -> set[str]:
    """Names the module takes from the engine; fails on any import of an engine submodule."""
    used = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and is_engine_module(node.module):
            assert node.module == "spotdiff", f"{path.name} imports {node.module}, not part of the public API"
            used |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert not is_engine_module(alias.name) or alias.name == "spotdiff", (path.name, alias.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "spotdiff":
            used.add(node.attr)
    return used


def test_desktop_uses_only_names_in_engine_all():
    used = set().union(*(engine_names_used(p) for p in DESKTOP.glob("*.py")))
    assert {"compare_steps", "CompareRequest", "FeatureLibrary", "embedding_map"} <= used
    assert used <= set(spotdiff.__all__), sorted(used - set(spotdiff.__all__))

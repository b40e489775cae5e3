"""One-off tool: move engine modules into their layers and rewrite every import to match.

    python scripts/relayer.py move            # git mv each module of MOVES, then rewrite imports everywhere
    python scripts/relayer.py rewrite FILE..  # rewrite the imports of files written for the old layout

Relative imports inside the package are resolved against the file's old place, mapped, and written
relative to its new place; absolute ``engine.X`` / ``desktop.X`` imports elsewhere become ``spotdiff.Y``
/ ``spotdiff.gui.X``. Standard library only.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# old module (under engine) -> new module (under spotdiff); packages move with everything inside
MOVES = {
    "cli": "apps.cli", "demo": "apps.demo", "selftest": "apps.selftest", "bench": "apps.bench",
    "decoding": "io.decoding", "images": "io.images", "medical": "io.medical",
    "medical.acquisition": "analysis.acquisition", "medical.text_tower": "models.text_tower",
    "medical.synth": "synthetic.medical",
    "world": "synthetic.world", "synth": "synthetic.synth", "edits": "synthetic.edits",
    "models": "models.registry", "memo": "models.memo", "precision": "models.precision",
    "cache": "models.cache", "download": "models.download", "offline": "models.offline",
    "_torchvision_compat": "models._torchvision_compat", "embedders": "models.embedders",
    "embedding": "models.embedding", "host": "models.host", "vlm": "models.vlm", "vlm.registry": "models.factory", "worker": "worker",
    "result": "analysis.result", "stats": "analysis.stats", "contrast": "analysis.contrast",
    "subgroups": "analysis.subgroups", "validate": "analysis.validate",
    "heatmap": "analysis.heatmap", "library": "analysis.library", "proposers": "analysis.proposers",
    "projection": "projection", "explain": "analysis.explain", "domain": "analysis.domain", "replant": "analysis.replant",
}
NEW_PACKAGES = ("apps", "io", "models", "analysis", "synthetic")


def map_module(old: str) -> str:
    """engine.a.b -> spotdiff.x.y by the longest moved prefix."""
    assert old == "engine" or old.startswith("engine."), old
    parts = old.split(".")[1:]
    for n in range(len(parts), 0, -1):
        head = ".".join(parts[:n])
        if head in MOVES:
            return ".".join(["spotdiff", MOVES[head], *parts[n:]])
    return ".".join(["spotdiff", *parts])


def module_of(path: Path, root_pkg: str, root_dir: Path) -> str:
    rel = path.relative_to(root_dir).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([root_pkg, *parts])


def package_of(module: str, is_init: bool) -> str:
    return module if is_init else module.rpartition(".")[0]


def resolve(level: int, name: str | None, package: str) -> str:
    base = package.split(".")
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def relative(target: str, package: str) -> str:
    """``target`` written relative to ``package`` (both absolute, same top package)."""
    t, p = target.split("."), package.split(".")
    common = 0
    while common < min(len(t), len(p)) and t[common] == p[common]:
        common += 1
    up = len(p) - common
    return "." * (up + 1) + ".".join(t[common:])


def is_old_module(module: str, old_root: Path) -> bool:
    rel = Path(*module.split(".")[1:])
    return (old_root / rel).with_suffix(".py").is_file() or (old_root / rel / "__init__.py").is_file()


def rewrite_engine_file(text: str, old_module: str, new_module: str, is_init: bool, old_root: Path) -> str:
    """Rewrite the relative imports of one package file moved from old_module to new_module."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    old_pkg, new_pkg = package_of(old_module, is_init), package_of(new_module, is_init)
    edits: list[tuple[int, str, str]] = []  # (line index, old statement head, new head)
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base_old = resolve(node.level, node.module, old_pkg)
        names = [a.name for a in node.names]
        submods = [n for n in names if is_old_module(f"{base_old}.{n}", old_root)]
        head_old = "." * node.level + (node.module or "")
        if submods and len(submods) == len(names):  # from PKG import module, module
            groups: dict[str, list[str]] = {}
            for alias in node.names:
                new = map_module(f"{base_old}.{alias.name}")
                parent, _, leaf = new.rpartition(".")
                asname = alias.asname or alias.name
                groups.setdefault(relative(parent, new_pkg), []).append(
                    leaf if leaf == asname else f"{leaf} as {asname}")
            indent_ = lines[node.lineno - 1][: len(lines[node.lineno - 1]) - len(lines[node.lineno - 1].lstrip())]
            new_stmt = f"\n{indent_}".join(f"from {p} import {', '.join(n)}" for p, n in groups.items())
            idx = node.lineno - 1
            line = lines[idx]
            indent = line[: len(line) - len(line.lstrip())]
            comment = line[line.index("#"):].rstrip("\n") if "#" in line else ""
            lines[idx] = indent + new_stmt + (f"  {comment}" if comment else "") + "\n"
            continue
        new_base = map_module(base_old)
        head_new = relative(new_base, new_pkg)
        if head_new != head_old:
            edits.append((node.lineno - 1, head_old, head_new))
    for idx, old, new in edits:
        lines[idx] = re.sub(rf"\bfrom\s+{re.escape(old)}\s+import\b", f"from {new} import", lines[idx], count=1)
    return "".join(lines)


ABS = re.compile(r"\b(?<![./\w-])engine((?:\.[A-Za-z_]\w*)+)")


def rewrite_outside(text: str, old_root: Path) -> str:
    """engine.X (imports, -m, patch targets, entry points) -> spotdiff.Y; desktop.X -> spotdiff.gui.X."""

    def sub(m: re.Match) -> str:
        parts = m.group(1).split(".")[1:]
        # keep only the leading parts that are modules; the rest are attributes
        n = 0
        while n < len(parts) and (is_old_module(".".join(["engine", *parts[: n + 1]]), old_root)
                                  or ".".join(parts[: n + 1]) in MOVES):
            n += 1
        new = map_module(".".join(["engine", *parts[:n]]))
        return ".".join([new, *parts[n:]])

    text = re.sub(r"(?m)^(\s*)import engine\s*$", r"\1import spotdiff", text)
    text = re.sub(r"(?m)^(\s*)import engine as (\w+)", r"\1import spotdiff as \2", text)
    text = re.sub(r"\bfrom engine import\b", "from spotdiff import", text)
    text = ABS.sub(sub, text)
    text = re.sub(r"\bfrom desktop\b", "from spotdiff.gui", text)
    text = re.sub(r"(?m)^(\s*)import desktop(\.\w+)*", lambda m: m.group(0).replace("desktop", "spotdiff.gui"), text)
    text = re.sub(r"(?<![\w/.-])desktop\.(app|main_window|result_view|finding_view|image_set_view|thumbnails|jobs|"
                  r"session|errors|charts|style|selftest|model_picker|image_viewer|platform_check)\b",
                  r"spotdiff.gui.\1", text)
    return text


def git(*args: str) -> None:
    subprocess.run(["git", *args], cwd=ROOT, check=True)


def move() -> None:
    old_root = ROOT / "engine"
    snapshot = ROOT / "build" / "relayer-old"
    subprocess.run(["rm", "-rf", str(snapshot)], check=True)
    snapshot.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(old_root), str(snapshot / "engine")], check=True)
    old_files = {p: module_of(p, "engine", old_root) for p in old_root.rglob("*.py")}
    for pkg in NEW_PACKAGES:
        (old_root / pkg).mkdir(exist_ok=True)
    for old, new in sorted(MOVES.items(), key=lambda kv: -kv[0].count(".")):  # inner modules first
        was = snapshot / "engine" / Path(*old.split("."))
        is_dir = was.is_dir() and not was.with_suffix(".py").is_file()
        src = old_root / Path(*old.split("."))
        src = src if is_dir else src.with_suffix(".py")
        if not src.exists():
            continue
        dst = old_root / Path(*new.split("."))
        dst = dst if is_dir else dst.with_suffix(".py")
        dst.parent.mkdir(parents=True, exist_ok=True)
        git("mv", str(src.relative_to(ROOT)), str(dst.relative_to(ROOT)))
    for pkg in NEW_PACKAGES:
        init = old_root / pkg / "__init__.py"
        if not init.exists():
            init.write_text(f'"""{pkg}"""\n')
    for old_path, old_module in old_files.items():
        new_module = map_module(old_module)
        is_init = old_path.name == "__init__.py"
        new_path = ROOT / "engine" / Path(*new_module.split(".")[1:])
        new_path = new_path / "__init__.py" if is_init else new_path.with_suffix(".py")
        text = new_path.read_text()
        new_text = rewrite_engine_file(text, old_module, new_module, is_init, snapshot / "engine")
        new_text = rewrite_outside(new_text, snapshot / "engine")
        new_path.write_text(new_text)
    outside = [p for p in ROOT.rglob("*") if p.is_file() and p.suffix in (".py", ".sh", ".spec", ".toml", ".md", ".cfg",
                                                                         ".iss", ".txt", ".ini", ".json")
               and not any(part in (".venv", ".git", "build", "dist") for part in p.relative_to(ROOT).parts)
               and p.relative_to(ROOT).parts[0] != "engine"]
    outside += [ROOT / ".ci" / "run"]
    for path in outside:
        if path.name == "relayer.py":
            continue
        text = path.read_text()
        new = rewrite_outside(text, snapshot / "engine")
        if new != text:
            path.write_text(new)


def rewrite_files(files: list[str], old_root: Path) -> None:
    for name in files:
        path = Path(name).resolve()
        text = path.read_text()
        try:
            rel = path.relative_to(ROOT / "engine")
        except ValueError:
            rel = None
        if rel is not None and path.suffix == ".py":
            old_module = module_of(ROOT / "engine" / rel, "engine", ROOT / "engine")  # its old place = where it is
            new_module = map_module(old_module)
            text = rewrite_engine_file(text, old_module, new_module, path.name == "__init__.py", old_root)
        path.write_text(rewrite_outside(text, old_root))


def rewrite_moved(old_rel: str, file: str, old_root: Path) -> None:
    """Rewrite a file written at ``old_rel`` (e.g. engine/validate.py) for the old layout, now at ``file``."""
    old_path = ROOT / old_rel
    old_module = module_of(old_path, "engine", ROOT / "engine")
    new_module = map_module(old_module)
    path = Path(file).resolve()
    text = rewrite_engine_file(path.read_text(), old_module, new_module, old_path.name == "__init__.py", old_root)
    text = re.sub(r"\bHeldOut\b", "Half", text)
    path.write_text(rewrite_outside(text, old_root))


if __name__ == "__main__":
    if sys.argv[1] == "move":
        move()
    elif sys.argv[1] == "rewrite-moved":  # OLD_REL_PATH FILE [OLD_REL_PATH FILE ...]
        pairs = sys.argv[2:]
        for old_rel, file in zip(pairs[::2], pairs[1::2]):
            rewrite_moved(old_rel, file, ROOT / "build" / "relayer-old" / "engine")
    else:
        rewrite_files(sys.argv[2:], ROOT / "build" / "relayer-old" / "engine")

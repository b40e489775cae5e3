"""Stage the model files that an installer ships (packaging/build.sh --with-models DIR), sha256-checked.

    python packaging/stage_models.py DIR STAGE

DIR is laid out like a user's models folder: one folder per model, named as in the registry
(``spotdiff models``), holding the files the entry names:

    DIR/ViT-B-32/open_clip_model.safetensors            layout weights-file: the one file
    DIR/BiomedCLIP/open_clip_config.json, ...           layout local-dir: the whole folder
    DIR/SmolVLM-500M-Instruct/<model>.gguf, <mmproj>    kind vlm: the language model and its projector
    DIR/my-model.json                                   (optional) registry entries for models spotdiff
                                                        does not list, as in $SPOTDIFF_REGISTRY
    DIR/SHA256SUMS                                      (optional) `sha256sum` lines, "HEX  NAME/FILE"

Every file is hashed. It must match the registry's sha256 where the entry has one, else the line of
SHA256SUMS for it (from the publisher's page, or made where the file was downloaded); a file with
neither, or one that differs, stops the build. STAGE receives model_weights/NAME/ (the files) and
registry/NAME.json: the entry with ``bundled`` pointing at the shipped copy and the sha256 filled in,
so the installed app checks the files again whenever it loads them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

SUMS = "SHA256SUMS"
ALWAYS_SHIPPED = {"toy-shapes"}  # already inside the engine package


class StageError(Exception):
    pass


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        for chunk in iter(lambda: fp.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_sums(folder: Path) -> dict[str, str]:
    """{"NAME/FILE": hex} from DIR/SHA256SUMS (sha256sum's text or binary mode lines)."""
    path = folder / SUMS
    if not path.is_file():
        return {}
    sums = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise StageError(f"{path}:{n}: expected 'HEX  NAME/FILE' as sha256sum writes it, got {line!r}")
        sums[parts[1].lstrip("*").removeprefix("./")] = parts[0].lower()
    return sums


def files_of(spec, folder: Path) -> list[tuple[str, str | None]]:
    """(file relative to the model's folder, sha256 the registry expects or None) for what must ship."""
    if spec.kind == "vlm":
        from spotdiff.models.vlm.config import config

        cfg = config(spec)
        return [(spec.filename, spec.sha256)] + ([(cfg.mmproj, cfg.mmproj_sha256)] if cfg.mmproj else [])
    if spec.layout == "local-dir":  # open_clip's config, tokenizer files, the weights: the folder as it is
        found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        return [(f, spec.sha256 if f == spec.filename else None) for f in found]
    return [(spec.filename, spec.sha256)]


def stage(models: Path, out: Path) -> list[str]:
    """Check and copy every model of ``models`` into ``out``; return one line per model shipped."""
    from spotdiff.models.registry import get_model_spec

    if any(models.glob("*.json")):  # the folder's own entries join the registry, as $SPOTDIFF_REGISTRY does
        os.environ["SPOTDIFF_REGISTRY"] = os.pathsep.join(
            p for p in (str(models), os.environ.get("SPOTDIFF_REGISTRY", "")) if p)
    sums = read_sums(models)
    folders = sorted(p for p in models.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise StageError(f"{models} holds no model folder; expected DIR/NAME/<files> with NAME a registry model")
    lines = []
    for folder in folders:
        spec = get_model_spec(folder.name)  # UnknownModelError lists the names that exist
        if spec.name in ALWAYS_SHIPPED or not spec.needs_weights:
            lines.append(f"{spec.name}: skipped, every build has it")
            continue
        target = out / "model_weights" / spec.name
        entry = json.loads(spec.source_path.read_text(encoding="utf-8"))
        total = 0
        for rel, expected in files_of(spec, folder):
            source = folder / rel
            if not source.is_file():
                raise StageError(f"{spec.name}: {source} is missing; the registry entry "
                                 f"({spec.source_path}) names it")
            expected = expected or sums.get(f"{folder.name}/{rel}")
            if expected is None and (rel == spec.filename or spec.kind == "vlm"):
                raise StageError(f"{spec.name}: no sha256 to check {source} against: the registry entry has none "
                                 f"and {models / SUMS} has no line for '{folder.name}/{rel}'. Add the publisher's "
                                 f"sha256 there (or: cd {models} && sha256sum {folder.name}/{rel} >> {SUMS}, where "
                                 f"you downloaded it)")
            found = sha256(source)
            if expected is not None and found != expected.lower():
                raise StageError(f"{spec.name}: {source} has sha256 {found}, expected {expected}: the file is "
                                 f"damaged or not the one the registry names")
            if rel == spec.filename:
                entry["sha256"] = found
            elif spec.kind == "vlm":
                entry["vlm"]["mmproj_sha256"] = found
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / rel)
            total += source.stat().st_size
        entry["bundled"] = f"model_weights/{spec.name}"
        (out / "registry").mkdir(parents=True, exist_ok=True)
        (out / "registry" / f"{spec.name}.json").write_text(json.dumps(entry, indent=2) + "\n", encoding="utf-8")
        lines.append(f"{spec.name}: {total / 1e6:,.1f} MB, sha256 checked")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, help="folder of model folders (DIR/NAME/<files>)")
    parser.add_argument("stage", type=Path, help="empty folder to fill")
    args = parser.parse_args(argv)
    from spotdiff.errors import SpotdiffError

    if args.stage.exists():
        shutil.rmtree(args.stage)
    try:
        for line in stage(args.models.resolve(), args.stage):
            print(f"  {line}")
    except (StageError, SpotdiffError) as e:
        print(f"stage_models: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

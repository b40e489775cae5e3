"""The model registry: which models exist and where their weights lie (:mod:`.factory` opens them).

Models are data, as in open_clip: one JSON file per model in ``engine/model_configs/``, plus every
``*.json`` in the folders named by ``$SPOTDIFF_REGISTRY`` (``os.pathsep``-separated); an entry there
replaces a shipped one of the same name. models/README.md describes the format and where weights go.

Nothing here touches the network; :func:`spotdiff.models.download.pull` does, only when the user asks.
Environment variables are read at call time, so settings made after import still count.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from ..errors import InvalidParameterError, ModelLoadError, UnknownModelError, WeightsIntegrityError, WeightsNotFoundError
from .memo import read_memo, remember
from .paths import (PACKAGE_DIR, bundled_dir, cache_dir, hf_cache_dir, hf_offline, hub, hub_errors,  # noqa: F401 (re-exported)
                    models_dir)
from .vlm.config import check_entry, config, mmproj_spec

LAYOUTS = ("weights-file", "local-dir")
OPEN_CLIP_CONFIG = "open_clip_config.json"  # what open_clip's "local-dir:" needs beside the weights
_PREPROCESS_KEYS = frozenset({"image_size", "mean", "std", "interpolation", "resize_mode"})
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_REPO_ID = re.compile(r"[\w.-]+/[\w.-]+")  # what huggingface_hub accepts, less its length limit


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry: the fields of its JSON file (models/README.md) and ``source_path``, that file.

    preprocess : dict of image_size, mean, std, interpolation, resize_mode (open_clip's pretrained
        table), or None for layout local-dir, whose folder says
    vlm : for kind "vlm", the image projector file and how to prompt the model (spotdiff.models.vlm.config)
    bundled : folder shipped inside the engine package that holds the weights (relative to it), or None
    prompt_templates : how the model expects a phrase to be framed, each with one ``{}``; empty: the
        embedder's default
    vocabulary : name of the phrase list its text tower can read (engine/data/vocabularies/NAME.txt),
        used by the concept bank instead of the full bank; None: the full concept bank. A model trained
        on a small world (toy-shapes) reads only its own words; any other phrase lands at random.
    decoder : for kind "decoder" (spotdiff.analysis.decoder), {"reads": [the embedding models whose spaces it
        was trained on]}
    domain : for a model trained on a narrow world, {"description": what it was trained on ("procedural
        scenes"), "reference": a file of engine/data/domains}: images unlike that world are detected and the
        model's words about them are not used (spotdiff.analysis.domain); None: not checked (the real CLIPs)
    """

    name: str
    kind: str
    source_path: Path
    architecture: str | None = None
    model_cfg: dict | None = field(default=None, hash=False)
    pretrained_tag: str | None = None
    hf_hub: str | None = None
    filename: str | None = None
    layout: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    preprocess: dict | None = field(default=None, hash=False)
    license: str | None = None
    description: str = ""
    aliases: tuple[str, ...] = ()
    vlm: dict | None = field(default=None, hash=False)
    bundled: str | None = None
    prompt_templates: tuple[str, ...] = ()
    vocabulary: str | None = None
    domain: dict | None = field(default=None, hash=False)
    decoder: dict | None = field(default=None, hash=False)

    @property
    def needs_weights(self) -> bool:
        return self.filename is not None


_KEYS = frozenset(f.name for f in fields(ModelSpec)) - {"source_path"}


# --- the registry ----------------------------------------------------------------------------


USER_REGISTRY = "registry"  # a folder of the user models folder: entries spotdiff writes (spotdiff train-decoder)


def _registry_files() -> list[Path]:
    # beside the package, not importlib.resources: under pytest a name can resolve to a tests folder
    files = sorted((PACKAGE_DIR / "model_configs").glob("*.json"))
    files.extend(sorted((models_dir() / USER_REGISTRY).glob("*.json")))
    for folder in os.environ.get("SPOTDIFF_REGISTRY", "").split(os.pathsep):
        if folder.strip():
            files.extend(sorted(Path(folder).expanduser().glob("*.json")))
    return files


def _bad_entry(path: Path, name: str, problem: str) -> ModelLoadError:
    return ModelLoadError(name, path, f"the registry entry is not valid: {problem}. See models/README.md")


def _parse_spec(path: Path) -> ModelSpec:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _bad_entry(path, path.stem, f"cannot read it as JSON ({e})") from e
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise _bad_entry(path, path.stem, "expected a JSON object with a non-empty 'name'")
    sha, aliases, preprocess = data.get("sha256"), data.get("aliases") or [], data.get("preprocess")
    templates, bundled = data.get("prompt_templates") or [], data.get("bundled")
    for ok, problem in [
        (set(data) <= _KEYS, f"unknown keys {sorted(set(data) - _KEYS)}; expected some of {sorted(_KEYS)}"),
        (isinstance(data.get("kind"), str), "'kind' must be a string such as 'open_clip'"),
        (data.get("hf_hub") is None or _REPO_ID.fullmatch(str(data["hf_hub"])), "'hf_hub' must be like 'org/name'"),
        (sha is None or isinstance(sha, str) and SHA256_PATTERN.fullmatch(sha.lower()),
         f"'sha256' must be 64 hex digits or null, not {sha!r}"),
        (isinstance(aliases, list) and all(isinstance(a, str) for a in aliases), "'aliases' must be a list of strings"),
        (isinstance(templates, list) and all(isinstance(t, str) and t.count("{}") == 1 for t in templates),
         f"'prompt_templates' must be a list of strings with one '{{}}' each, like [\"a photo of {{}}.\"], "
         f"not {templates!r}"),
        (data.get("vocabulary") is None or isinstance(data["vocabulary"], str)
         and re.fullmatch(r"[A-Za-z0-9_.-]+", data["vocabulary"]),
         f"'vocabulary' must be the name of a file in engine/data/vocabularies, not {data.get('vocabulary')!r}"),
        (data.get("domain") is None or isinstance(data["domain"], dict) and set(data["domain"]) == {
            "description", "reference"} and all(isinstance(v, str) and v for v in data["domain"].values())
         and re.fullmatch(r"[A-Za-z0-9_.-]+\.json", data["domain"]["reference"]),
         "'domain' must be {\"description\": \"what the model was trained on\", \"reference\": \"a file of "
         f"engine/data/domains\"}}, not {data.get('domain')!r}"),
        (bundled is None or isinstance(bundled, str) and bundled.strip() and not Path(bundled).is_absolute()
         and ".." not in Path(bundled).parts,
         f"'bundled' must be a folder inside the engine package, like 'model_weights/NAME', not {bundled!r}"),
        (preprocess is None or isinstance(preprocess, dict) and _PREPROCESS_KEYS >= set(preprocess) >= {
            "image_size", "mean", "std"},
         f"'preprocess' needs image_size, mean and std, may have interpolation and resize_mode; got {preprocess!r}"),
    ]:
        if not ok:
            raise _bad_entry(path, name, problem)
    spec = ModelSpec(**{**data, "source_path": path, "sha256": sha.lower() if sha else None,
                        "description": data.get("description") or "", "aliases": tuple(aliases),
                        "prompt_templates": tuple(templates)})
    if spec.kind == "open_clip":
        _check_open_clip(spec)
    elif spec.kind == "vlm":
        check_entry(spec)
    elif spec.kind == "decoder":
        reads = (spec.decoder or {}).get("reads")
        if not (spec.filename and spec.layout == "weights-file" and isinstance(reads, list) and reads
                and all(isinstance(r, str) and r for r in reads)):
            raise _bad_entry(path, name, "a decoder needs 'layout': 'weights-file', a 'filename' and "
                             "'decoder': {\"reads\": [the embedding models it was trained on]}")
    return spec


def _check_open_clip(spec: ModelSpec) -> None:
    one_file, cfg = spec.layout == "weights-file", spec.model_cfg
    for ok, problem in [
        (spec.layout in LAYOUTS, f"'layout' must be one of {list(LAYOUTS)}, not {spec.layout!r}"),
        (bool(spec.filename), "'filename' must name the weights file, e.g. 'open_clip_model.safetensors'"),
        (one_file or cfg is None,
         f"layout 'local-dir' reads the architecture from the folder's {OPEN_CLIP_CONFIG}; remove 'model_cfg'"),
        (not one_file or (spec.architecture is None) != (cfg is None),
         "layout 'weights-file' needs exactly one of 'architecture' and 'model_cfg'"),
        (cfg is None or isinstance(cfg, dict) and {"embed_dim", "vision_cfg", "text_cfg"} <= set(cfg),
         "'model_cfg' must be an open_clip model config with embed_dim, vision_cfg and text_cfg"),
        # Without it open_clip silently falls back to OpenAI's mean and std, which is wrong for
        # many weights (ViT-L-14 laion2b uses 0.5); so the entry must say.
        (not one_file or spec.preprocess is not None,
         "layout 'weights-file' needs 'preprocess' (copy it from open_clip's pretrained table)"),
    ]:
        if not ok:
            raise _bad_entry(spec.source_path, spec.name, problem)


def list_models() -> tuple[ModelSpec, ...]:
    """Every registered model: the shipped entries, those spotdiff wrote into the user models folder's
    ``registry`` (trained decoders), then those of ``$SPOTDIFF_REGISTRY``.

    Raises ModelLoadError for an entry that cannot be read, or for an alias two models share.
    """
    by_name: dict[str, ModelSpec] = {}
    for path in _registry_files():
        spec = _parse_spec(path)
        by_name[spec.name.lower()] = spec  # a later entry of the same name replaces the earlier
    owners = dict(by_name)
    for spec in by_name.values():
        for alias in spec.aliases:
            other = owners.setdefault(alias.lower(), spec)
            if other is not spec:
                raise _bad_entry(spec.source_path, spec.name,
                                 f"alias {alias!r} is already taken by {other.name!r} ({other.source_path})")
    return tuple(by_name.values())


def get_model_spec(name: str) -> ModelSpec:
    """The entry whose name or alias is ``name`` (case-insensitive); UnknownModelError if none."""
    specs = list_models()
    wanted = name.strip().lower()
    for spec in specs:
        if spec.name.lower() == wanted or wanted in (a.lower() for a in spec.aliases):
            return spec
    raise UnknownModelError(name, [s.name for s in specs])


# --- where weights live ----------------------------------------------------------------------


def _usable(spec: ModelSpec, path: Path) -> bool:
    """A file for layout weights-file; a folder with open_clip's config and the file for local-dir."""
    if spec.layout == "local-dir":
        return (path / OPEN_CLIP_CONFIG).is_file() and (path / spec.filename).is_file()
    return path.is_file()


def _from_hf_cache(spec: ModelSpec) -> Path | None:
    huggingface_hub = hub()
    cache = hf_cache_dir()
    if spec.layout == "local-dir":
        try:
            folder = Path(huggingface_hub.snapshot_download(spec.hf_hub, cache_dir=cache, local_files_only=True))
        except (huggingface_hub.errors.EntryNotFoundError, OSError):
            return None
        return folder if _usable(spec, folder) else None
    found = huggingface_hub.try_to_load_from_cache(spec.hf_hub, spec.filename, cache_dir=cache)
    return Path(found) if isinstance(found, str) else None  # may also be a "known missing" marker


def locate_weights(spec: ModelSpec, explicit: Path | str | None = None) -> Path:
    """The weights file (layout weights-file) or folder (layout local-dir) of ``spec``.

    A path given as ``explicit`` is the only place looked at. Otherwise: the folder shipped with the
    engine (``bundled``), the user models folder, the Hugging Face cache. Never touches the network.
    Raises WeightsNotFoundError naming the file, every place searched, and the fix.
    """
    if not spec.needs_weights:
        raise InvalidParameterError("model", spec.name, "a model with a weights file (this one needs none)")
    local_dir = spec.layout == "local-dir"
    needed = f"{OPEN_CLIP_CONFIG} and {spec.filename}" if local_dir else spec.filename
    if explicit is not None:
        explicit = Path(explicit).expanduser()
        for candidate in [explicit] if local_dir else [explicit, explicit / spec.filename]:
            if _usable(spec, candidate):
                return candidate
        raise WeightsNotFoundError(spec.name, needed, [explicit],
                                   f"Check the path given for the weights: it should hold {needed}.")
    searched = []
    if spec.bundled:  # weights that ship inside the package, found and checked like any others
        shipped = bundled_dir() / spec.bundled
        searched.append(shipped)
        for candidate in [shipped] if local_dir else [shipped / spec.filename]:
            if _usable(spec, candidate):
                return candidate
    home = models_dir()
    searched += [home / spec.name] if local_dir else [home / spec.name, home]
    for candidate in [home / spec.name] if local_dir else [home / spec.name / spec.filename, home / spec.filename]:
        if _usable(spec, candidate):
            return candidate
    if spec.hf_hub:
        searched.append(hf_cache_dir() / ("models--" + spec.hf_hub.replace("/", "--")))
        found = _from_hf_cache(spec)
        if found is not None:
            return found
    hint = f"Put {needed} in {home / spec.name}"
    hint += f" or run 'spotdiff models pull {spec.name}'." if spec.hf_hub else "."
    raise WeightsNotFoundError(spec.name, needed, searched, hint)


def locate_vlm(spec: ModelSpec, weights: Path | None = None) -> tuple[Path, Path | None]:
    """(language model GGUF, projector GGUF or None). ``weights``: a folder holding both, or the model file."""
    folder = None
    if weights is not None:
        weights = Path(weights).expanduser()
        folder = weights if weights.is_dir() else weights.parent
    model = locate_weights(spec, weights)
    proj = mmproj_spec(spec)
    return model, (locate_weights(proj, folder) if proj is not None else None)



#: the embedded default model: bundled with every install; without its weights, the measurements alone
DEFAULT_MODEL = "toy-shapes"
MEASUREMENTS = "measurements"


def default_model() -> str:
    """The model a comparison uses when none is named: DEFAULT_MODEL where its weights are here, else the
    measurements, which need none (the command line, the desktop app and ``spotdiff.compare`` alike)."""
    try:
        spec = get_model_spec(DEFAULT_MODEL)
    except UnknownModelError:
        return MEASUREMENTS
    return spec.name if availability(spec)[0] else MEASUREMENTS


def availability(spec: ModelSpec) -> tuple[bool, str]:
    """(usable now, one line saying where the weights are or what is missing). Hashes nothing."""
    if not spec.needs_weights:
        return True, "built in; needs no weights"
    try:
        if spec.kind == "vlm":  # a language model and its image projector: both must be here
            model, mmproj = locate_vlm(spec)
            return True, f"weights at {model}" + (f" (projector {mmproj.name} beside it)" if mmproj else "")
        return True, f"weights at {locate_weights(spec)}"
    except WeightsNotFoundError as e:
        return False, str(e)


# --- trust -----------------------------------------------------------------------------------


def weights_file(spec: ModelSpec, located: Path) -> Path:
    """The one file inside what :func:`locate_weights` returned (a folder for layout local-dir)."""
    return Path(located) / spec.filename if Path(located).is_dir() else Path(located)


SHA256_MEMO = "weights-sha256.json"


def file_sha256(path: Path) -> str:
    """sha256 of ``path``, remembered per (path, size, mtime) so big files are hashed once."""
    real = Path(path).resolve()  # HF cache entries are symlinks to blobs
    stat = real.stat()
    known = read_memo(SHA256_MEMO).get(str(real))
    if isinstance(known, list) and known[:2] == [stat.st_size, stat.st_mtime_ns]:
        return known[2]
    digest = hashlib.sha256()
    with open(real, "rb") as fp:
        for chunk in iter(lambda: fp.read(1 << 20), b""):  # 1 MiB at a time
            digest.update(chunk)
    remember(SHA256_MEMO, str(real), [stat.st_size, stat.st_mtime_ns, digest.hexdigest()])
    return digest.hexdigest()


def verify_sha256(spec: ModelSpec, path: Path) -> str:
    """Hash the weights at ``path`` (file or local-dir folder) and return the hex digest.

    Raises WeightsIntegrityError when the registry gives a sha256 and the file differs.
    """
    file = weights_file(spec, path)
    found = file_sha256(file)
    if spec.sha256 and found != spec.sha256:
        raise WeightsIntegrityError(spec.name, file, spec.sha256, found)
    return found


def present_vlm() -> str | None:
    """The smallest registered vision-language model whose files are here and that llama-cpp-python can run, or None.

    Looks only at this machine (hashes nothing, downloads nothing): what `spotdiff demo` uses to
    add a VLM when one is present.
    """
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    present = [s for s in list_models() if s.kind == "vlm" and availability(s)[0]]
    present.sort(key=lambda s: (s.size_bytes or 0) + (config(s).mmproj_size_bytes or 0))  # the fastest first
    return present[0].name if present else None

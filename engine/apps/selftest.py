"""``spotdiff selftest``: load every component spotdiff ships and run a tiny comparison, in seconds.

For installers and support: packaging/smoke.sh runs it inside the built .deb, and a user who asks
"does spotdiff work on this machine?" gets one line per component. The checks, cheapest first:

    open_clip     the toy CLIP (or ``model``) located, sha256-checked, images and text embedded
    faiss         an inner-product index built and searched
    scikit-learn  a logistic regression fitted
    llama_cpp     a tiny random-weight GGUF language model + image projector written with ``gguf``,
                  loaded, and asked one question about one image (JSON held by a grammar)
    comparison    two small procedural sets with a planted blur, compared end to end, reports written
    desktop       ``spotdiff-gui --selftest`` in a child process: the main window opened offscreen

Everything it writes goes to a temporary folder, deleted at the end; it never opens a network
connection (the Hugging Face libraries are held offline throughout). Works the same in the source
tree and in the frozen app (``sys.frozen``).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from importlib import metadata
import hashlib
from ..io.images import ImageRecord
from ..synthetic.world import SetSpec, render, sample_scene
from ..models.factory import open_embedder
from ..models.registry import get_model_spec, locate_weights
from ..progress import run
from ..io.images import open_image
from ..models.vlm import VisionLanguageModel
from ..models.vlm.grids import to_data_uri
from ..pipeline import CompareRequest, compare_steps
from ..report import write_html, write_json
from ..synthetic.synth import synth
from ..models.offline import hub_offline

#: the model whose weights ship inside every build (engine/model_weights/toy-shapes)
TOY_MODEL = "toy-shapes"
DESKTOP_TIMEOUT_S = 120


@dataclass(frozen=True)
class CheckResult:
    """How one check went. ``detail``: one line of what was seen, or why it failed."""

    name: str
    ok: bool
    detail: str
    seconds: float
    trace: str = ""


def where_am_i() -> str:
    """One line: version, frozen or source tree, Python, platform."""
    try:
        version = metadata.version("spotdiff")
    except metadata.PackageNotFoundError:
        version = "(not installed)"
    frozen = getattr(sys, "frozen", False)
    home = Path(sys.executable).parent if frozen else Path(__file__).resolve().parents[2]
    return (f"spotdiff {version} ({'frozen app in' if frozen else 'source tree'} {home}; Python "
            f"{platform.python_version()}, {platform.system()} {platform.machine()})")


def _images(folder: Path, n: int, seed: int = 0) -> list:
    """``n`` procedural scenes of 64 px, written as PNG into ``folder``; their ImageRecords."""
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n):
        path = folder / f"{i:02d}.png"
        render(sample_scene(SetSpec(), np.random.default_rng([seed, i])), 64).save(path)
        records.append(ImageRecord(path, hashlib.sha256(path.read_bytes()).hexdigest(), 64, 64, "PNG"))
    return records


# --- the checks: each takes the scratch folder and returns one line of what it saw ------------


def check_open_clip(scratch: Path, model: str) -> str:
    spec = get_model_spec(model)
    if spec.kind != "open_clip":
        raise ValueError(f"{spec.name!r} is a model of kind {spec.kind!r}; the check needs an open_clip model "
                         f"such as {TOY_MODEL!r}")
    embedder = open_embedder(spec)  # locates and sha256-checks the weights, as every load does
    X = run(embedder.embed(_images(scratch / "clip", 4)), None)
    T = embedder.embed_text(["a red object", "a blurry image"])
    if X.shape[0] != 4 or T.shape != (2, X.shape[1]) or not (np.isfinite(X).all() and np.isfinite(T).all()):
        raise AssertionError(f"unexpected embeddings: images {X.shape}, text {T.shape}")
    where = locate_weights(spec) if spec.needs_weights else "(no weights)"
    sha = f", sha256 {spec.sha256[:12]}… checked" if spec.sha256 else ""
    return f"{spec.name}: 4 images and 2 phrases -> dim {X.shape[1]}; weights {where}{sha}"


def check_faiss(scratch: Path) -> str:
    import faiss  # lazy: the check is whether it imports

    X = np.random.default_rng(0).standard_normal((200, 32)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(X.shape[1])
    index.add(X)
    _, nearest = index.search(X[:10], 1)
    if not (nearest[:, 0] == np.arange(10)).all():
        raise AssertionError(f"each vector should be its own nearest neighbour, got {nearest[:, 0].tolist()}")
    return f"faiss {faiss.__version__}: 200 vectors indexed, nearest neighbours right"


def check_sklearn(scratch: Path) -> str:
    import sklearn.linear_model  # lazy: the check is whether it imports

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (50, 4)), rng.normal(2, 1, (50, 4))])
    y = np.repeat([0, 1], 50)
    accuracy = sklearn.linear_model.LogisticRegression().fit(X, y).score(X, y)
    if accuracy < 0.9:
        raise AssertionError(f"a logistic regression separated two far-apart clouds with accuracy {accuracy:.2f}")
    return f"scikit-learn {sklearn.__version__}: logistic regression fitted (accuracy {accuracy:.2f})"


def check_llama_cpp(scratch: Path) -> str:
    import llama_cpp  # lazy: the check is whether it imports (an optional extra)

    from ..models.vlm.tiny import write_pair  # lazy: it needs gguf, of the same optional extra

    model_path, mmproj_path, _ = write_pair(scratch / "tiny-vlm")
    image = _images(scratch / "vlm", 1)[0]
    schema = {"type": "object", "properties": {"differ": {"type": "boolean"}}, "required": ["differ"]}
    messages = [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": to_data_uri(open_image(image))}},
        {"type": "text", "text": "Is this image blurry? Answer in JSON."}]}]
    # one thread: a model this small gains nothing from more, and threads that spin-wait on busy cores lose much
    with VisionLanguageModel(model_path, mmproj_path, n_ctx=512, n_threads=1, time_budget_s=60) as vlm:
        answer = run(vlm.ask_json(messages, schema, max_tokens=48), None)
        timing = vlm.last_timing_
    if not isinstance(answer, dict) or not isinstance(answer.get("differ"), bool):
        raise AssertionError(f"the answer does not follow the schema: {answer!r}")
    kb = (model_path.stat().st_size + mmproj_path.stat().st_size) // 1024
    # llama.cpp's AMX kernels die with SIGILL on Intel CPUs whose VM does not grant AMX: builds leave them out
    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    if re.search(r"AMX[A-Z_0-9]* = 1", info):
        raise AssertionError(f"this llama.cpp was built with AMX code, which can die with SIGILL: {info.strip()}; "
                             "reinstall it with scripts/install.sh (or scripts/llama_wheel.py build host)")
    return (f"llama-cpp-python {llama_cpp.__version__}: tiny GGUF pair ({kb} KB) loaded, one image read, "
            f"JSON answer in {timing.total_s:.2f} s; no AMX code")


def check_comparison(scratch: Path, model: str) -> str:
    pair = run(synth(scratch / "pair", plants=[("blur", 0.8)], n_per_set=12, seed=0, image_size=64), None)
    request = CompareRequest(set_a=(pair / "set_a",), set_b=(pair / "set_b",), model=model, n_permutations=50,
                             use_cache=False, acquisition=False)
    result = run(compare_steps(request), None)
    (scratch / "report").mkdir()
    write_json(result, scratch / "report" / "report.json")
    write_html(result, scratch / "report" / "report.html")
    spaces = ", ".join(s.space for s in result.separability)
    return (f"12 + 12 images, planted blur: spaces {spaces}; {len(result.supported)} of {len(result.findings)} "
            f"hypotheses supported; report.json and report.html written")


def desktop_command() -> list[str] | None:
    """How to start the desktop app: ``spotdiff-gui`` beside this program (frozen app or venv), else on PATH."""
    suffix = ".exe" if os.name == "nt" else ""
    beside = Path(sys.executable).with_name(f"spotdiff-gui{suffix}")
    found = str(beside) if beside.is_file() else shutil.which("spotdiff-gui")
    return [found] if found else None


def check_desktop(scratch: Path) -> str:
    command = desktop_command()
    if command is None:
        raise FileNotFoundError("spotdiff-gui is not installed beside this program nor on PATH; install the "
                                "desktop app: pip install 'spotdiff[gui]'")
    # offscreen unless the caller chose a platform: a selftest must pass on a machine without a display
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    done = subprocess.run(command + ["--selftest"], env=env, capture_output=True, text=True,
                          timeout=DESKTOP_TIMEOUT_S, stdin=subprocess.DEVNULL)
    lines = done.stdout.strip().splitlines() or ["the main window opened and closed (the program printed nothing)"]
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"'{' '.join(command)} --selftest' exited with {done.returncode}:\n{tail}")
    if os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        # a display is set: can a real window open on it (Qt's xcb plugin and the X11 libraries it links)?
        env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
        xcb = subprocess.run(command + ["--check-platform"], env=env, capture_output=True, text=True,
                             timeout=DESKTOP_TIMEOUT_S, stdin=subprocess.DEVNULL)
        if xcb.returncode != 0:
            raise RuntimeError((xcb.stdout + xcb.stderr).strip() or f"--check-platform exited with {xcb.returncode}")
        return f"{lines[-1]}; {xcb.stdout.strip()}"
    return lines[-1]


# --- running them --------------------------------------------------------------------------


@contextmanager
def _scratch_user_folders() -> Iterator[Path]:
    """A temporary folder that holds everything the checks write: cache, feature library, settings."""
    scratch = Path(tempfile.mkdtemp(prefix="spotdiff-selftest-"))
    names = ("SPOTDIFF_CACHE", "SPOTDIFF_DATA")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["SPOTDIFF_CACHE"] = str(scratch / "cache")
    os.environ["SPOTDIFF_DATA"] = str(scratch / "data")
    try:
        with hub_offline():
            yield scratch
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(scratch, ignore_errors=True)


def checks(model: str = TOY_MODEL, desktop: bool = True) -> list[tuple[str, Callable[[Path], str]]]:
    out = [("open_clip", lambda s: check_open_clip(s, model)), ("faiss", check_faiss),
           ("scikit-learn", check_sklearn), ("llama_cpp", check_llama_cpp),
           ("comparison", lambda s: check_comparison(s, model))]
    return out + ([("desktop", check_desktop)] if desktop else [])


def selftest(model: str = TOY_MODEL, *, desktop: bool = True,
             on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Run every check, whatever the earlier ones gave; return their results in order.

    model : the embedding model the open_clip check and the comparison use (default: the toy CLIP)
    desktop : also open the desktop app's window (in a child process)
    on_result : called with each result as soon as it is known
    """
    results = []
    with _scratch_user_folders() as scratch:
        for name, check in checks(model, desktop):
            start = time.perf_counter()
            (scratch / name).mkdir()
            try:
                detail, ok, trace = check(scratch / name), True, ""
            except Exception as e:  # noqa: BLE001 - a selftest reports every failure and goes on
                detail, ok, trace = f"{type(e).__name__}: {e}", False, traceback.format_exc()
            results.append(CheckResult(name, ok, detail, round(time.perf_counter() - start, 2), trace))
            if on_result is not None:
                on_result(results[-1])
    return results

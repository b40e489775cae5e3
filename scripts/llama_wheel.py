"""Build, cache and check the llama-cpp-python wheel spotdiff uses, without AMX code.

llama.cpp's AMX kernels (``tileloadd`` in ``ggml_backend_amx_mul_mat``) die with SIGILL on Intel
CPUs whose hypervisor or kernel does not grant the tile state, although the CPU lists
``amx_tile``: a native build (``-march=native``) turns them on there, and so does the
``sapphirerapids`` variant of the portable build. So both builds leave AMX out:

- ``host``: one CPU backend for this machine, its x86 features read from /proc/cpuinfo and named
  to CMake one by one (``GGML_NATIVE=OFF``), AMX off. What ``scripts/install.sh`` installs.
- ``portable``: every x86 variant (``GGML_CPU_ALL_VARIANTS``, the best picked at run time), then
  every variant whose code holds AMX instructions taken out of the wheel. What the installer ships.

Wheels are kept in ``~/.cache/spotdiff-build/wheels/llama-KEY`` (override: ``SPOTDIFF_WHEEL_CACHE``),
KEY from the version and the CMake flags: pip's own wheel cache is keyed by version only and would
hand back a wheel built with other flags. Standard library only (runs before the venv has anything).

    python scripts/llama_wheel.py build host --python .venv/bin/python     # prints the wheel's path
    python scripts/llama_wheel.py check --wheel WHEEL                      # no AMX instruction inside
    python scripts/llama_wheel.py check --installed .venv/bin/python       # the same, for an installed one
    python scripts/llama_wheel.py check --folder build/packaging/dist      # and for a built app
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

VERSION = "0.3.36"
#: bumped when what a build does changes, so that cached wheels of the old recipe are not reused
RECIPE = "2"
#: /proc/cpuinfo flag -> ggml CMake option; SSE 4.2 .. BMI2 are on by default with GGML_NATIVE=OFF
X86_FEATURES = {
    "sse4_2": "GGML_SSE42", "avx": "GGML_AVX", "f16c": "GGML_F16C", "fma": "GGML_FMA", "avx2": "GGML_AVX2",
    "bmi2": "GGML_BMI2", "avx_vnni": "GGML_AVX_VNNI", "avx512f": "GGML_AVX512", "avx512vbmi": "GGML_AVX512_VBMI",
    "avx512_vnni": "GGML_AVX512_VNNI", "avx512_bf16": "GGML_AVX512_BF16",
}
NO_AMX = ["-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"]
#: instructions that only AMX code holds (tile load/store/config and the tile dot products)
AMX_INSTRUCTION = re.compile(r"\b(tileloadd|tileloaddt1|tilestored|ldtilecfg|sttilecfg|tdpb[a-z]+|tilezero)\b")
CPU_LIB = re.compile(r"(^|/)libggml-cpu[^/]*\.(so|dylib|dll)$")


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def cmake_args(mode: str) -> list[str]:
    """The CMake flags of one build mode ("host" or "portable") on this machine."""
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    if mode == "portable":
        args = ["-DGGML_NATIVE=OFF", "-DGGML_BACKEND_DL=ON"]
        if x86:
            args.append("-DGGML_CPU_ALL_VARIANTS=ON")
        return args + ["-DCMAKE_INSTALL_BINDIR=llama_cpp/lib"]
    if mode != "host":
        raise SystemExit(f"llama_wheel.py: unknown mode {mode!r}; expected 'host' or 'portable'")
    if not x86:  # AMX is x86 only: a native build elsewhere is safe
        return []
    flags = cpu_flags()
    return ["-DGGML_NATIVE=OFF"] + [f"-D{opt}={'ON' if flag in flags else 'OFF'}"
                                    for flag, opt in X86_FEATURES.items()] + NO_AMX


def cache_folder(args: list[str]) -> Path:
    key = hashlib.sha256(" ".join([VERSION, RECIPE, *args]).encode()).hexdigest()[:12]
    root = os.environ.get("SPOTDIFF_WHEEL_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spotdiff-build" / "wheels"
    return Path(root) / f"llama-{key}"


def amx_instructions(lib: Path) -> list[str]:
    """Lines of ``objdump -d lib`` that hold an AMX instruction (empty: none)."""
    objdump = shutil.which("objdump")
    if objdump is None:
        raise SystemExit("llama_wheel.py: objdump is missing; install binutils (apt-get install binutils)")
    out = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(lib)], capture_output=True, text=True,
                         check=True).stdout
    return [ln.strip() for ln in out.splitlines() if AMX_INSTRUCTION.search(ln)]


def strip_amx(wheel: Path) -> list[str]:
    """Take out of ``wheel`` (rewritten in place) every CPU backend whose code holds AMX instructions.

    Used for the portable build only, where another variant serves the same CPU; the RECORD is
    rewritten to match. Returns the names taken out.
    """
    removed = []
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as zin:
        for name in zin.namelist():
            if CPU_LIB.search(name):
                path = Path(zin.extract(name, tmp))
                if amx_instructions(path):
                    removed.append(name)
        if not removed:
            return removed
        out = wheel.with_suffix(".tmp")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                if info.filename in removed:
                    continue
                data = zin.read(info)
                if info.filename.endswith(".dist-info/RECORD"):
                    data = "".join(ln for ln in data.decode().splitlines(keepends=True)
                                   if ln.split(",", 1)[0] not in removed).encode()
                zout.writestr(info, data)
    out.replace(wheel)
    return removed


def build(mode: str, python: str) -> Path:
    args = cmake_args(mode)
    folder = cache_folder(args)
    found = sorted(folder.glob(f"llama_cpp_python-{VERSION}-*.whl"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    minutes = "~20 min" if mode == "portable" else "~4 min"
    print(f"llama_wheel.py: compiling llama.cpp ({mode}, {minutes} on 2 cores, once per machine) with "
          f"{' '.join(args) or 'its defaults'}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, CMAKE_ARGS=" ".join(args), CMAKE_BUILD_PARALLEL_LEVEL=str(os.cpu_count() or 2))
        subprocess.run([python, "-m", "pip", "wheel", "-q", "--no-deps", "--no-cache-dir", "--no-binary",
                        "llama-cpp-python", "-w", tmp, f"llama-cpp-python=={VERSION}"], env=env, check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        if mode == "portable":
            for name in strip_amx(wheel):
                print(f"llama_wheel.py: took out {name} (AMX code)", file=sys.stderr)
        problems = check_wheel(wheel)
        if problems:
            raise SystemExit("llama_wheel.py: the build still holds AMX code:\n" + "\n".join(problems))
        shutil.move(str(wheel), folder / wheel.name)
    return folder / wheel.name


def check_libs(libs: list[Path]) -> list[str]:
    if not libs:
        return ["no libggml-cpu library found"]
    problems = []
    for lib in libs:
        hits = amx_instructions(lib)
        if hits:
            problems.append(f"{lib.name}: {len(hits)} AMX instructions, e.g. {hits[0]}")
    return problems


def check_wheel(wheel: Path) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as zin:
        libs = [Path(zin.extract(n, tmp)) for n in zin.namelist() if CPU_LIB.search(n)]
        return check_libs(libs)


def installed_libs(python: str) -> tuple[list[Path], str]:
    """The CPU backend libraries of the llama_cpp that ``python`` imports, and its system info."""
    code = ("import llama_cpp, pathlib; d = pathlib.Path(llama_cpp.__file__).parent / 'lib'; "
            "print(d); print(llama_cpp.llama_print_system_info().decode())")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    folder = Path(out[0])
    return sorted(p for p in folder.iterdir() if CPU_LIB.search(p.name)), "\n".join(out[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build (or take from the cache) a wheel; prints its path")
    b.add_argument("mode", choices=["host", "portable"])
    b.add_argument("--python", default=sys.executable, help="the Python whose pip builds the wheel")
    f = sub.add_parser("flags", help="print the CMake flags of a mode on this machine")
    f.add_argument("mode", choices=["host", "portable"])
    c = sub.add_parser("check", help="fail when a wheel or an installed llama_cpp holds AMX code")
    g = c.add_mutually_exclusive_group(required=True)
    g.add_argument("--wheel", type=Path)
    g.add_argument("--installed", metavar="PYTHON", help="check the llama_cpp this Python imports")
    g.add_argument("--folder", type=Path, help="check every libggml-cpu* library under this folder (a built app)")
    args = parser.parse_args(argv)
    if args.command == "flags":
        print(" ".join(cmake_args(args.mode)))
        return 0
    if args.command == "build":
        print(build(args.mode, args.python))
        return 0
    if args.folder:
        libs = sorted(p for p in args.folder.rglob("libggml-cpu*") if CPU_LIB.search(p.name))
        problems = check_libs(libs)
        print(f"{len(libs)} CPU backend(s) under {args.folder} checked: {', '.join(p.name for p in libs)}")
    elif args.wheel:
        problems = check_wheel(args.wheel)
        print(f"{args.wheel.name}: {'AMX code found' if problems else 'no AMX instruction in any CPU backend'}")
    else:
        libs, info = installed_libs(args.installed)
        problems = check_libs(libs)
        if re.search(r"AMX[A-Z_0-9]* = 1", info):
            problems.append(f"llama_print_system_info reports AMX: {info}")
        print(f"llama_print_system_info: {info}")
        print(f"{len(libs)} CPU backend(s) checked: {', '.join(p.name for p in libs)}")
    for p in problems:
        print(f"  {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

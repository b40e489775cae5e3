"""llama.cpp as spotdiff builds it holds no AMX code (its AMX kernels die with SIGILL on some Intel VMs).

The check itself (scripts/llama_wheel.py) is shown to fail on a library that does hold AMX code,
compiled here from an AMX intrinsic, and to take such a library out of a wheel.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
needs_objdump = pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump (binutils) is not installed")
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")


def load_llama_wheel():
    spec = importlib.util.spec_from_file_location("llama_wheel", ROOT / "scripts" / "llama_wheel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_lib(folder: Path, name: str, amx: bool) -> Path:
    source = folder / f"{name}.c"
    if amx:
        source.write_text("#include <immintrin.h>\nvoid f(const void *p) { _tile_loadd(0, p, 64); _tile_release(); }\n")
    else:
        source.write_text("float f(const float *p) { return p[0] * 2.0f; }\n")
    lib = folder / f"{name}.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", *(["-mamx-tile"] if amx else []), "-o", str(lib), str(source)],
                   check=True)
    return lib


@pytest.fixture
def libs(tmp_path) -> tuple[Path, Path]:
    """Two CPU-backend look-alikes compiled here: one with an AMX tile load, one without."""
    return (compile_lib(tmp_path, "libggml-cpu-sapphirerapids", amx=True),
            compile_lib(tmp_path, "libggml-cpu-haswell", amx=False))


@needs_objdump
def test_the_installed_llama_cpp_holds_no_amx_code():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (scripts/install.sh --test)")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "llama_wheel.py"), "check", "--installed",
                           sys.executable], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CPU backend(s) checked: libggml-cpu" in done.stdout
    assert "AMX_INT8 = 1" not in done.stdout


@needs_objdump
@needs_gcc
def test_the_check_finds_amx_instructions_and_passes_plain_code(libs):
    llama_wheel = load_llama_wheel()
    amx, plain = libs
    hits = llama_wheel.amx_instructions(amx)
    assert hits and "tileloadd" in hits[0]
    assert llama_wheel.amx_instructions(plain) == []
    assert llama_wheel.check_libs([plain]) == []
    assert "libggml-cpu-sapphirerapids.so: 1 AMX instructions" in llama_wheel.check_libs([plain, amx])[0]
    assert llama_wheel.check_libs([]) == ["no libggml-cpu library found"]


@needs_objdump
@needs_gcc
def test_the_portable_wheel_loses_its_amx_variant_and_its_record_line(tmp_path, libs):
    llama_wheel = load_llama_wheel()
    amx, plain = libs
    wheel = tmp_path / "llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl"
    record = "llama_cpp_python-0.3.36.dist-info/RECORD"
    with zipfile.ZipFile(wheel, "w") as z:
        z.write(amx, f"llama_cpp/lib/{amx.name}")
        z.write(plain, f"llama_cpp/lib/{plain.name}")
        z.writestr("llama_cpp/__init__.py", "")
        z.writestr(record, f"llama_cpp/lib/{amx.name},sha256=x,1\nllama_cpp/lib/{plain.name},sha256=y,2\n"
                           f"llama_cpp/__init__.py,,\n{record},,\n")
    assert llama_wheel.check_wheel(wheel)  # AMX inside before

    removed = llama_wheel.strip_amx(wheel)

    assert removed == [f"llama_cpp/lib/{amx.name}"]
    assert llama_wheel.check_wheel(wheel) == []
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        lines = z.read(record).decode().splitlines()
    assert names == {f"llama_cpp/lib/{plain.name}", "llama_cpp/__init__.py", record}
    assert [ln.split(",")[0] for ln in lines] == [f"llama_cpp/lib/{plain.name}", "llama_cpp/__init__.py", record]


def test_host_flags_name_every_feature_and_leave_amx_off(monkeypatch):
    llama_wheel = load_llama_wheel()
    monkeypatch.setattr(llama_wheel.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(llama_wheel, "cpu_flags", lambda: {"avx", "avx2", "fma", "f16c", "avx512f", "amx_tile",
                                                           "amx_int8", "amx_bf16", "avx512_bf16"})
    args = llama_wheel.cmake_args("host")
    assert "-DGGML_NATIVE=OFF" in args
    assert {"-DGGML_AVX512=ON", "-DGGML_AVX512_BF16=ON", "-DGGML_AVX2=ON", "-DGGML_SSE42=OFF"} <= set(args)
    assert {"-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"} <= set(args)
    assert not any("AMX" in a and a.endswith("=ON") for a in args)
    # another CPU gives other flags, so another cache folder: a wheel of one is never handed to the other
    monkeypatch.setattr(llama_wheel, "cpu_flags", lambda: {"avx", "avx2", "fma", "f16c"})
    assert llama_wheel.cache_folder(llama_wheel.cmake_args("host")) != llama_wheel.cache_folder(args)

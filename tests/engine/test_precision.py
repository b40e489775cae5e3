"""How "auto" picks bf16 or fp32: from the CPU's feature flags, the same way on every run."""

from __future__ import annotations

import pytest

from spotdiff.errors import InvalidParameterError
from spotdiff.models.precision import NATIVE_BF16_FLAGS, choose_precision, cpu_flags

X86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 avx512f {extra}\nbugs\t\t: none\n"
ARM = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd sve {extra}\nCPU implementer\t: 0x41\n"


@pytest.mark.parametrize("text, native", [
    (X86.format(extra="avx512_bf16 avx512_vnni"), True),
    (X86.format(extra="amx_bf16 amx_tile"), True),
    (X86.format(extra="avx512_vnni"), False),  # AVX-512 without bf16 dot products: emulated, slower
    (ARM.format(extra="bf16 i8mm"), True),
    (ARM.format(extra="i8mm"), False),
])
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, text, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    assert bool(cpu_flags(cpuinfo) & NATIVE_BF16_FLAGS) is native


def test_no_cpuinfo_means_no_flags(tmp_path):
    assert cpu_flags(tmp_path / "missing") is None
    (tmp_path / "odd").write_text("nothing here\n")
    assert cpu_flags(tmp_path / "odd") is None


def test_auto_is_stable_and_explicit_choices_win(monkeypatch):
    first = choose_precision("auto")
    assert first in ("bf16", "fp32") and all(choose_precision("auto") == first for _ in range(3))
    assert choose_precision("fp32") == "fp32" and choose_precision("bf16") == "bf16"
    monkeypatch.setenv("SPOTDIFF_PRECISION", "fp32")
    assert choose_precision("auto") == "fp32"
    with pytest.raises(InvalidParameterError):
        choose_precision("fp16")

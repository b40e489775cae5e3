"""What this machine's CPU is and can do, read from the system without importing torch.

The number format a model runs in (spotdiff.models.precision), what a loaded model's cache key was
(spotdiff.models.deferred) and every benchmark's header line depend on it; the CPU can change between two runs
of the same installation (a virtual machine moved to another host), so nothing here is remembered.
"""

from __future__ import annotations

import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str] | None:
    """The CPU's feature flags as the kernel lists them, or None where it does not (not Linux)."""
    fields = _first_cpu(cpuinfo)
    if fields is None:
        return None
    value = fields.get("flags", fields.get("Features"))
    return frozenset(value.split()) if value is not None else None


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's model name ("AMD EPYC 9R45", "Intel(R) Xeon(R) Platinum 8488C"), else what Python knows."""
    fields = _first_cpu(cpuinfo) or {}
    return fields.get("model name") or fields.get("Model") or platform.processor() or platform.machine() or "unknown"


def cpu_summary(cpuinfo: Path = CPUINFO) -> str:
    """One line for a benchmark's header: the model and its matrix-product extensions."""
    flags = cpu_flags(cpuinfo) or frozenset()
    shown = [f for f in ("avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8") if f in flags]
    return f"{cpu_model(cpuinfo)} ({', '.join(shown) or 'no AVX-512 or AMX'})"


def _first_cpu(cpuinfo: Path) -> dict[str, str] | None:
    """The key: value lines of the first processor in ``cpuinfo``, or None where it cannot be read."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields

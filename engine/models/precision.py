"""Which number format to run a model in on this machine.

bfloat16 halves memory traffic and, on CPUs with native bf16 dot products
(AVX512-BF16, AMX, Arm BF16), runs matrix products about twice as fast as
float32 or more. Where the CPU only emulates bf16 it is slower. "auto" decides
from the CPU's feature flags where the system lists them (Linux), so that one
machine always makes the same choice, whatever else is running; elsewhere it
times a short matmul in each format once and remembers the answer in the cache
folder (PRECISION_MEMO).
"""

from __future__ import annotations

import os
import platform
import time
from functools import lru_cache

import torch
from .cpu import cpu_flags
from .memo import read_memo, remember
from ..errors import InvalidParameterError

PRECISIONS = ("bf16", "fp32")
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}
MIN_SPEEDUP = 1.5  # bf16 must beat fp32 by this much to be chosen
MIN_COSINE = 0.999  # bf16 embeddings must agree with fp32 at least this well
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})  # x86 AVX512-BF16 / AMX; Arm (Features: bf16)
PRECISION_MEMO = "bf16-speedup.json"


def _matmul_seconds(dtype: torch.dtype, n: int = 768, repeats: int = 6) -> float:
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.mm(a, b)  # warm-up: kernels are picked on first use
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


@lru_cache(maxsize=None)
def bf16_speedup(device: str = "cpu") -> float:
    """How much faster a bf16 matmul runs than an fp32 one here (median of a few)."""
    if device != "cpu":
        return MIN_SPEEDUP if device.startswith("cuda") and torch.cuda.is_bf16_supported() else 0.0
    try:
        return _matmul_seconds(torch.float32) / _matmul_seconds(torch.bfloat16)
    except RuntimeError:  # no bf16 kernels at all
        return 0.0


@lru_cache(maxsize=None)
def bf16_pays_off(device: str = "cpu") -> bool:
    """Whether bf16 runs matrix products natively (and so faster) on ``device``."""
    if device != "cpu":
        return bf16_speedup(device) >= MIN_SPEEDUP
    flags = cpu_flags()
    if flags is not None:
        return bool(flags & NATIVE_BF16_FLAGS)

    key = f"{platform.machine()}|{platform.processor()}|{os.cpu_count()} cpus|torch {torch.__version__}"
    known = read_memo(PRECISION_MEMO).get(key)
    if not isinstance(known, (int, float)):
        known = bf16_speedup(device)
        remember(PRECISION_MEMO, key, known)
    return known >= MIN_SPEEDUP


def choose_precision(requested: str = "auto", device: str = "cpu") -> str:
    """Resolve "auto" to "bf16" where it pays off, else "fp32".

    ``SPOTDIFF_PRECISION=fp32`` in the environment forces fp32 for "auto".
    """
    if requested not in PRECISIONS + ("auto",):
        raise InvalidParameterError("precision", requested, f"one of auto, {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    forced = os.environ.get("SPOTDIFF_PRECISION", "").lower()
    if forced in PRECISIONS:
        return forced
    return "bf16" if bf16_pays_off(device) else "fp32"


def matmul_peak_gflops(dtype: torch.dtype, n: int = 1024) -> float:
    """Measured matrix-product throughput in GFLOP/s (for benchmarks)."""
    return 2 * n**3 / _matmul_seconds(dtype, n=n) / 1e9


def matmul_best_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """The best of ``repeats`` n x n matrix products in GFLOP/s, on all the threads torch uses (for benchmarks).

    The fixed way a benchmark states this machine's peak: the best run, not the median, so that other work
    on the machine lowers it as little as possible.
    """
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.mm(a, b)  # warm-up: kernels are picked on first use
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9

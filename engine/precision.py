"""Which number format to run a model in on this machine.

bfloat16 halves memory traffic and, on CPUs with native bf16 dot products
(AVX512-BF16, AMX, Arm BF16), runs matrix products several times faster than
float32. Where the CPU only emulates bf16 it is slower, so "auto" measures
instead of guessing: a short matmul in each format, once per process.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache

import torch

PRECISIONS = ("bf16", "fp32")
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}
MIN_SPEEDUP = 1.5  # bf16 must beat fp32 by this much to be chosen
MIN_COSINE = 0.999  # bf16 embeddings must agree with fp32 at least this well


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


def choose_precision(requested: str = "auto", device: str = "cpu") -> str:
    """Resolve "auto" to "bf16" where it pays off, else "fp32".

    ``SPOTDIFF_PRECISION=fp32`` in the environment forces fp32 for "auto".
    """
    if requested not in PRECISIONS + ("auto",):
        from .errors import InvalidParameterError

        raise InvalidParameterError("precision", requested, f"one of auto, {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    forced = os.environ.get("SPOTDIFF_PRECISION", "").lower()
    if forced in PRECISIONS:
        return forced
    return "bf16" if bf16_speedup(device) >= MIN_SPEEDUP else "fp32"


def matmul_peak_gflops(dtype: torch.dtype, n: int = 1024) -> float:
    """Measured matrix-product throughput in GFLOP/s (for benchmarks)."""
    return 2 * n**3 / _matmul_seconds(dtype, n=n) / 1e9

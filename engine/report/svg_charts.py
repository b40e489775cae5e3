"""Score histograms as inline SVG: no script, no external file, colours from the page's CSS."""

from __future__ import annotations

import math
from html import escape

import numpy as np


def _nice_step(span: float, n_ticks: int) -> float:
    """A step of 1, 2, 2.5 or 5 times a power of ten giving at most ``n_ticks`` ticks over ``span``."""
    magnitude = 10 ** math.floor(math.log10(span / n_ticks))
    for m in (1, 2, 2.5, 5):
        if span / (m * magnitude) <= n_ticks:
            return m * magnitude
    return 10 * magnitude


def _tick_text(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if not math.isclose(round(step, decimals), step):  # steps like 0.25
        decimals += 1
    return f"{value:.{decimals}f}".replace("-", "−")


def histogram_svg(scores_a: np.ndarray, scores_b: np.ndarray, *, x_label: str,
                  threshold: float | None = None) -> str:
    """Histograms of two score arrays on shared bins, side by side in each bin, as inline SVG.

    Heights are shares of each set (the sets may differ in size); dashed lines mark medians, a solid line
    the ``threshold`` of a subgroup claim (images above it count as having the property).
    Colours come from the page's CSS classes ``bar-a`` and ``bar-b``.
    """
    a = np.asarray(scores_a, dtype=np.float64).ravel()
    b = np.asarray(scores_b, dtype=np.float64).ravel()
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    width, height, left, right, top, bottom = 560, 230, 52, 14, 30, 46
    pw, ph = width - left - right, height - top - bottom
    base = top + ph  # y of the x axis
    head = f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape("Histogram of " + x_label)}">'
    both = np.concatenate([a, b])
    if both.size == 0:
        empty = f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">No held-out scores</text>'
        return head + empty + "</svg>"
    lo, hi = float(both.min()), float(both.max())
    if threshold is not None and math.isfinite(threshold):
        lo, hi = min(lo, threshold), max(hi, threshold)
    if hi - lo <= 1e-12 * max(1.0, abs(lo)):
        lo, hi = lo - 0.5, hi + 0.5
    n_bins = int(np.clip(np.ceil(np.sqrt(both.size)), 8, 30))
    edges = np.linspace(lo, hi, n_bins + 1)
    shares = {label: np.histogram(s, edges)[0] / max(s.size, 1) for label, s in (("a", a), ("b", b))}
    highest = float(max(shares["a"].max(), shares["b"].max()))
    y_step = _nice_step(highest, 4)
    y_top = y_step * math.ceil(highest / y_step - 1e-9)

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * pw

    def y(v: float) -> float:
        return base - v / y_top * ph

    parts = [head, f"<title>{escape(x_label)}</title>"]
    for i in range(round(y_top / y_step) + 1):
        v = y(i * y_step)
        parts.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{v:.1f}" y2="{v:.1f}"/>')
        label = _tick_text(i * y_step * 100, y_step * 100)
        parts.append(f'<text x="{left - 6}" y="{v + 4:.1f}" text-anchor="end">{label}%</text>')
    x_step = _nice_step(hi - lo, 6)
    for i in range(math.ceil(lo / x_step - 1e-9), math.floor(hi / x_step + 1e-9) + 1):
        v = x(i * x_step)
        parts.append(f'<line class="axis" x1="{v:.1f}" x2="{v:.1f}" y1="{base}" y2="{base + 4}"/>')
        label = _tick_text(i * x_step, x_step)
        parts.append(f'<text x="{v:.1f}" y="{base + 16}" text-anchor="middle">{label}</text>')
    bar_w = (pw / n_bins - 2) / 2
    for k, label in enumerate(("a", "b")):
        for i, share in enumerate(shares[label]):
            if share > 0:
                bx = left + i * pw / n_bins + 1 + k * bar_w
                parts.append(
                    f'<rect class="bar-{label}" x="{bx:.1f}" y="{y(share):.1f}" '
                    f'width="{bar_w:.1f}" height="{base - y(share):.1f}"/>'
                )
    for k, (label, s) in enumerate((("a", a), ("b", b))):
        if s.size:
            m = x(float(np.median(s)))
            parts.append(f'<line class="median-{label}" x1="{m:.1f}" x2="{m:.1f}" y1="{top}" y2="{base}"/>')
        parts.append(f'<rect class="key-{label}" x="{left + k * 150}" y="8" width="10" height="10"/>')
        parts.append(f'<text x="{left + k * 150 + 14}" y="17">Set {label.upper()} (n = {s.size})</text>')
    key = "dashed lines: medians"
    if threshold is not None and math.isfinite(threshold):
        t = x(threshold)
        parts.append(f'<line class="threshold" x1="{t:.1f}" x2="{t:.1f}" y1="{top}" y2="{base}"/>')
        key += "; solid: threshold"
    parts += [
        f'<text x="{left + pw}" y="17" text-anchor="end">{key}</text>',
        f'<line class="axis" x1="{left}" x2="{left + pw}" y1="{base}" y2="{base}"/>',
        f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{base}"/>',
        f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="12" y="{top + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + ph / 2})">share of set</text>',
        "</svg>",
    ]
    return "".join(parts)

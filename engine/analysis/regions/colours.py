"""Plain colour names for a region's mean colour."""

from __future__ import annotations

import colorsys

import numpy as np

# hue (degrees) where each named hue ends, going round from red
_HUES = ((15, "red"), (40, "orange"), (70, "yellow"), (165, "green"), (200, "cyan"), (255, "blue"),
         (290, "purple"), (335, "pink"), (360, "red"))


def colour_name(rgb) -> str:
    """The plain name of an RGB colour (components in [0, 1]): white, grey, black for the unsaturated ones, else its
    hue (red, orange, yellow, green, cyan, blue, purple, pink), with brown for dark oranges and yellows.

    >>> colour_name((0.86, 0.12, 0.12))
    'red'
    """
    r, g, b = (float(np.clip(c, 0, 1)) for c in rgb)
    h, lightness, s = colorsys.rgb_to_hls(r, g, b)
    chroma = max(r, g, b) - min(r, g, b)
    if chroma < 0.15:
        return "white" if lightness > 0.8 else "black" if lightness < 0.2 else "grey"
    if lightness < 0.12:
        return "black"
    degrees = h * 360
    name = next(n for end, n in _HUES if degrees < end)
    if name in ("orange", "yellow") and max(r, g, b) < 0.6:
        return "brown"
    return name

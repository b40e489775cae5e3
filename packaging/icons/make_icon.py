"""Draw spotdiff's icon: two image tiles, set A and set B, and the spot where B differs, ringed.

    python packaging/icons/make_icon.py      # writes spotdiff.png (256 px), spotdiff.ico, spotdiff.icns here

The PNG is committed; the .ico (Inno Setup, the Windows .exe) and .icns (the macOS .app) are made from
the same drawing by the build recipes. Drawn at 4x and downsampled, so edges are smooth.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SCALE = 4
NAVY, PAPER, SKY, GRASS, SUN, MARK, RING = "#1d3557", "#f1faee", "#a8dadc", "#2a9d8f", "#e9c46a", "#e63946", "#ffb703"


def draw(size: int = 256) -> Image.Image:
    s = size * SCALE
    u = s / 256  # the drawing is laid out on a 256 grid
    im = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.rounded_rectangle((8 * u, 8 * u, 248 * u, 248 * u), radius=44 * u, fill=NAVY)
    for x0, differs in ((28, False), (132, True)):  # set A, set B: the same scene
        box = (x0 * u, 64 * u, (x0 + 96) * u, 192 * u)
        d.rounded_rectangle(box, radius=10 * u, fill=PAPER)
        d.rectangle((box[0] + 8 * u, 72 * u, box[2] - 8 * u, 150 * u), fill=SKY)
        d.ellipse(((x0 + 54) * u, 82 * u, (x0 + 78) * u, 106 * u), fill=SUN)
        d.polygon([((x0 + 8) * u, 150 * u), ((x0 + 34) * u, 112 * u), ((x0 + 60) * u, 150 * u)], fill=GRASS)
        d.rectangle((box[0] + 8 * u, 158 * u, box[2] - 8 * u, 166 * u), fill=NAVY)
        d.rectangle((box[0] + 8 * u, 174 * u, box[0] + 52 * u, 182 * u), fill=NAVY)
        if differs:  # the planted difference, and the ring that spots it
            d.rectangle(((x0 + 22) * u, 124 * u, (x0 + 34) * u, 136 * u), fill=MARK)
            d.ellipse(((x0 + 8) * u, 110 * u, (x0 + 48) * u, 150 * u), outline=RING, width=round(7 * u))
            d.line(((x0 + 43) * u, 145 * u, (x0 + 62) * u, 166 * u), fill=RING, width=round(10 * u))
    return im.resize((size, size), Image.LANCZOS)


def main(out: Path = HERE) -> None:
    icon = draw(256)
    icon.save(out / "spotdiff.png")
    icon.save(out / "spotdiff.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    draw(1024).save(out / "spotdiff.icns")
    for path in ("spotdiff.png", "spotdiff.ico", "spotdiff.icns"):
        print(out / path)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)

"""Remake docs/images/regions-desktop.png: the desktop app with a region finding selected, its regions outlined.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/screenshot_regions.py

It pastes tiny red rectangles into every set-B image of 100 + 100 photo crops (no weights needed), opens the main
window, names the two folders, runs the comparison with the measurements model, selects the region finding
("Images in set B hold tiny red rectangles ..."), waits for its exemplars' thumbnails and saves
``QWidget.grab()`` of the window. The user's feature library, cache and settings are not touched
(SPOTDIFF_DATA and SPOTDIFF_CACHE point into a temporary folder). It prints the finding and how many
outlined exemplars the picture shows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from screenshot import compare_in_window  # noqa: E402  (the main window, the folders, the run, the wait)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "regions-desktop.png")
    parser.add_argument("--size", default="1400x900", help="window size, WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.split("x"))

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    work = Path(tempfile.mkdtemp(prefix="spotdiff-regions-"))
    os.environ["SPOTDIFF_DATA"] = str(work / "data")
    os.environ["SPOTDIFF_CACHE"] = str(work / "cache")

    import spotdiff
    from spotdiff.synthetic.photos import write_photo_crops
    from spotdiff.synthetic.synth import synth

    crops = write_photo_crops(work / "crops", 200, size=112, seed=0)
    pair = spotdiff.run(synth(work / "pair", plants=[("rectangles/red", 0.5)], prevalence=1.0, n_per_set=100,
                              source=crops, seed=0, image_size=112))

    app, window, wait = compare_in_window(pair / "set_a", pair / "set_b", "measurements", width, height)

    findings = window.results.findings.findings
    row = next((i for i, f in enumerate(findings) if f.region is not None), None)
    if row is None:
        raise SystemExit("the comparison found no region finding: " + "; ".join(f.statement for f in findings))
    window.main_split.setSizes([330, width - 330])  # room for the finding's detail, its strips and histogram
    window.results.split.setSizes([180, height - 180])
    window.results.lower.setSizes([640, width - 330 - 640])
    window.results.select_finding(row)
    view = window.results.finding_view
    wait(lambda: view.finding is findings[row], "the region finding")

    def exemplars_ready() -> bool:
        return all(window.loader.image(r.path) is not None
                   for strip in view.strips.values() for r in strip.thumbnails.records)

    wait(exemplars_ready, "the exemplars' thumbnails")
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(args.out)):
        raise SystemExit(f"cannot write {args.out}")
    from PIL import Image

    # 256 colours keep it small (the photos in the grids make a full-colour PNG over 600 KB); the octree keeps the
    # outlines' rare pure cyan, which median cut merges into a dull blue
    picture = Image.open(args.out).convert("RGB")
    picture.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(args.out, optimize=True)
    outlined = {label: sum(bool(view.outlines_for(r)) for r in strip.thumbnails.records)
                for label, strip in view.strips.items()}
    print(f"wrote {args.out} ({width}x{height}, {args.out.stat().st_size // 1024} KB): {findings[row]!r}; "
          f"outlined exemplars: A {outlined['a']}, B {outlined['b']}")
    window.confirm_close = lambda: True
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

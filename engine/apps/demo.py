"""`spotdiff demo`: two procedural image sets with a known, planted difference, compared."""

from __future__ import annotations

import json
from pathlib import Path

from ..models.registry import default_model, get_model_spec, present_vlm
from ..pipeline import CompareRequest, compare_steps
from ..synthetic.synth import synth
from .console import drive, print_summary, write_reports

# With a CLIP model that sees the procedural world (toy-shapes, shipped), the demo is the original
# example: tiny rectangles pasted into every image of set B. With the measurements alone, which
# cannot name objects, it plants low-level differences they can name.
SEMANTIC_PLANTS = (("rectangles", 0.5),)
LOW_LEVEL_PLANTS = (("blur", 0.6), ("warm", 0.6))
DEMO_IMAGES_PER_SET = 60


def run_demo(out: Path, *, quiet: bool = False, model: str | None = None) -> int:
    """Make set A and set B with a planted difference, compare them, print what was found."""
    out = Path(out)
    sets = out / "sets"
    model = model or default_model()
    plants = SEMANTIC_PLANTS if get_model_spec(model).kind == "open_clip" else LOW_LEVEL_PLANTS
    drive(synth(sets, plants=plants, prevalence=1.0, n_per_set=DEMO_IMAGES_PER_SET, seed=0,
                image_size=128), quiet)
    truth = json.loads((sets / "truth.json").read_text(encoding="utf-8"))
    planted = ", ".join(p["description"] for p in truth["plants"])
    print(f"Made {DEMO_IMAGES_PER_SET} + {DEMO_IMAGES_PER_SET} procedural images in {sets}; "
          f"planted in set B: {planted}.")
    request = CompareRequest(set_a=(sets / "set_a",), set_b=(sets / "set_b",), model=model, seed=0,
                             vlm=_demo_vlm(model))
    result = drive(compare_steps(request), quiet)
    write_reports(result, out / "report")
    print_summary(result, out / "report")
    return 0


def _demo_vlm(model: str) -> str | None:
    """A vision-language model for the demo, only when one is present and the model can read its words."""
    if get_model_spec(model).kind != "open_clip":  # its statements are scored by a CLIP text tower
        return None
    return present_vlm()

"""The benchmark's judge: a deterministic matcher from finding statements to planted differences.

A claim is a statement and the set it says has more of it (``more_in``). It matches a planted difference when

1. it **names the planted value**: one of the value's accepted patterns (below) occurs in the statement as whole
   words, case-insensitive; and
2. it **points at the right set**: ``more_in`` is the set that got the difference (always "b" here); and
3. **no veto** applies: a statement about the background never matches an object attribute and one about
   objects never matches a background attribute; a statement that names things absent from the world
   ("rectangle") never matches a world attribute; an image-level measurement statement ("redder",
   "more yellow", "busier (more edges)") names a property of the whole image, never a scene attribute, so it
   can match edits only.

Two refinements keep the judge exact rather than lenient:

* **Negation.** "less noisy", "no stars", "not blurry", "without text" name the rest of the statement for the
  *other* set: "less noisy, more in b" is judged as "noisy, more in a".
* **Complements.** Where an attribute has exactly two sides, naming the opposite side for the other set is the
  same claim: "large objects, more in a" matches small objects planted in b (sizes are small or large);
  "many objects, more in a" matches "fewer objects" planted in b; "darker, more in a" matches "brighter" planted
  in b. Only the pairs listed in ``COMPLEMENTS`` count.

**Local edits** (``kind == "local"``, the local suite) are judged by a stricter rule, written for the region
stage's claims ("tiny red rectangles (≈ 5 × 4 px), 2–4 per image"). A claim matches a planted local edit when

a. it points at the right set (negation as above: "no red rectangles, more in a" is "red rectangles, more in b");
b. it names the edit's kind, as whole words (``LOCAL_KIND_PATTERNS``): rectangles — rectangle(s), square(s),
   rectangular; text-stamp — text, text-like, letter(s), lettering, character(s); shape-watermark — mark(s),
   logo(s), shape(s), watermark(s), *and* corner(s); dead-pixels — speck(s), (dead / stuck) pixel(s), dot(s);
   blurred-patch — blur, blurred, blurry, smooth, smoothed; colour-blotch — blotch(es), blob(s), spot(s),
   stain(s), patch(es);
c. where the plant has colour names (``Planted.colours``), the claim names one of them as a whole word; and
d. where the plant has a size (``Planted.size``: rectangles' mean side in pixels) and the claim gives one,
   "≈ W × H px", the mean of W and H is within ±50 % of it.

No veto applies to them, and their vocabulary is not the world's: "red" alone, "more colourful", or
"rectangles" of the wrong colour or of 20 × 20 px do not match red rectangles of 4–6 px.

The vocabulary is the world's (``spotdiff.synthetic.world``) and the edits' descriptions (``spotdiff.synthetic.edits``), with the usual
plural, adjective and spelling variants; it was written from those, not from any model's output.
``lowres`` also accepts blur words because its own description is "lower resolution (soft, detail lost)".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

from .suites import Planted
from ...models.embedders.measurements import MEASUREMENTS
from ...synthetic.edits import EDITS
from ...synthetic.world import _ATTRIBUTES

JUDGE_VERSION = 3  # 2: the local-edit rule; 3: "in pixels" (an image size) no longer names dead pixels

_GREY = r"gr[ae]y"
# Accepted patterns per (attribute, value); each is a regular expression matched on word boundaries.
WORLD_PATTERNS: dict[tuple[str, str], tuple[str, ...]] = {
    **{("shape", s): p for s, p in {
        "circle": (r"circles?",), "square": (r"squares?",), "triangle": (r"triangles?",),
        "star": (r"stars?", r"star[- ]shaped?s?"), "cross": (r"cross(es)?", r"cross[- ]shaped?s?", r"plus signs?"),
        "ring": (r"rings?", r"hollow circles?", r"annulus", r"donuts?"),
    }.items()},
    **{("colour", c): (c,) for c in ("red", "green", "blue", "yellow", "orange", "white", "black")},
    ("colour", "purple"): (r"purple", r"violet"),
    ("size", "small"): (r"small", r"tiny", r"little"),
    ("size", "large"): (r"large", r"big", r"huge", r"filling the frame"),
    ("texture", "striped"): (r"stripe[sd]?", r"banded", r"bands"),
    ("texture", "dotted"): (r"dott(ed|y)", r"dots", r"polka[- ]dots?", r"spotted"),
    ("texture", "solid"): (r"solid", r"filled", r"plain[- ]coloured", r"uniformly coloured"),
    ("position", "left"): (r"(on|at|to) the left", r"left"),
    ("position", "right"): (r"(on|at|to) the right", r"right"),
    ("position", "top"): (r"at the top", r"top", r"upper"),
    ("position", "bottom"): (r"at the bottom", r"bottom", r"lower (half|part)"),
    ("position", "center"): (r"cent(er|re|ered|red|ral)", r"middle"),
    ("count", "more"): (r"more objects", r"many", r"multiple", r"several", r"crowded", r"cluttered", r"pile",
                        r"(three|four|five|six|seven|eight) objects", r"repeated objects", r"scattered objects"),
    ("count", "fewer"): (r"fewer objects", r"single objects?", r"one object", r"two objects", r"pair of objects",
                         r"sparse", r"mostly empty", r"minimalist", r"lone objects?"),
    ("background", "flat"): (r"plain", r"flat", r"uniform background", r"solid[- ]colou?red background",
                             r"empty background"),
    ("background", "gradient"): (r"gradients?",),
    ("background", "stripes"): (r"stripe[sd]?",),
    ("background", "checker"): (r"checker(ed|board)?", r"chequer(ed|board)?", r"chessboard"),
    ("background", "noise"): (r"nois(e|y)", r"grain(y)?", r"speckled?", r"static"),
    ("background_colour", "grey"): (_GREY,),
    ("background_colour", "sand"): (r"sand", r"sandy", r"sand[- ]colou?red", r"beige", r"tan", r"khaki"),
    ("background_colour", "slate"): (r"slate", rf"blue[- ]?{_GREY}", rf"bluish[- ]{_GREY}"),
    ("background_colour", "sage"): (r"sage", r"olive", rf"green[- ]?{_GREY}", rf"greenish[- ]{_GREY}"),
    ("background_colour", "taupe"): (r"taupe", r"brown", r"brownish", rf"brown[- ]?{_GREY}"),
}

# What names a local edit's kind (rule b); shape-watermark also needs LOCAL_ALSO's words.
LOCAL_KIND_PATTERNS: dict[str, tuple[str, ...]] = {
    "rectangles": (r"rectangles?", r"squares?", r"rectangular"),
    "text-stamp": (r"text(-like)?", r"letter(ing|s)?", r"characters?"),
    "shape-watermark": (r"marks?", r"logos?", r"shapes?", r"watermarks?"),
    # "pixels" but not "wider in pixels": the image-size measurements name pixels as a unit, not a defect
    "dead-pixels": (r"specks?", r"(?<!in )(dead |stuck )?pixels?", r"dots?"),
    "blurred-patch": (r"blur(red|ry)?", r"smooth(ed)?"),
    "colour-blotch": (r"blotch(es)?", r"blobs?", r"spots?", r"stains?", r"patch(es)?"),
}
LOCAL_ALSO: dict[str, tuple[str, ...]] = {"shape-watermark": (r"corners?",)}
SIZE_TOLERANCE = 0.5  # rule d: a claimed mean side within ±50 % of the planted one
_SIZE = re.compile(r"(?:≈|~)\s*(\d+(?:\.\d+)?)\s*[×x]\s*(\d+(?:\.\d+)?)\s*px", re.IGNORECASE)

_SOFT = r"soft(er)?(?! (lighting|light|texture|shadows?|colou?rs?))"
EDIT_PATTERNS: dict[str, tuple[str, ...]] = {
    "rectangles": (r"rectangles?", r"rectangular (patches|marks|spots)"),
    "shape-watermark": (r"watermarks?", r"logos?"),
    "text-watermark": (r"watermarks?", r"text", r"sample", r"captions?", r"subtitles?", r"lettering"),
    "warm": (r"warm(er)?", r"warm tones", r"redder", r"(red|orange) (tint|cast|colou?r cast)"),
    "cool": (r"cool(er)?", r"cool tones", r"bluer", r"blue (tint|cast|colou?r cast)"),
    "brighter": (r"bright(er)?", r"bright image", r"overexposed", r"over-exposed", r"washed out"),
    "darker": (r"dark(er)?", r"dark image", r"underexposed", r"under-exposed", r"low light", r"dim(mer)?"),
    "blur": (r"blur(s|red|ry|rier)?", r"out of focus", r"soft focus", _SOFT, r"defocused"),
    "noise": (r"nois(e|y|ier)", r"grain(y|ier)?", r"film grain", r"speckled?"),
    "jpeg": (r"jpe?g", r"jpeg-blocky", r"compression", r"compressed", r"blocky", r"blockiness"),
    "lowres": (r"low(er)? resolution", r"low-res", r"pixelat(ed|ion)", r"upscaled",
               r"blur(s|red|ry|rier)?", _SOFT, r"detail lost", r"less detail"),
    "downscale": (r"smaller", r"fewer megapixels", r"narrower in pixels", r"shorter in pixels", r"thumbnails?",
                  r"low(er)? resolution", r"smaller image size"),
    "vignette": (r"vignett(e|ed|ing)", r"dark(ened)? corners", r"darker corners"),
    "rotate": (r"rotated", r"rotation", r"tilted", r"skewed", r"slanted", r"tilted horizon"),
    **{name: LOCAL_KIND_PATTERNS[name] for name in ("text-stamp", "dead-pixels", "blurred-patch", "colour-blotch")},
}

# (attribute, value) -> (attribute, value) whose words, said of the OTHER set, are the same claim.
COMPLEMENTS: dict[tuple[str, str], tuple[str, str]] = {
    ("size", "small"): ("size", "large"), ("size", "large"): ("size", "small"),
    ("count", "more"): ("count", "fewer"), ("count", "fewer"): ("count", "more"),
    ("edit", "warm"): ("edit", "cool"), ("edit", "cool"): ("edit", "warm"),
    ("edit", "brighter"): ("edit", "darker"), ("edit", "darker"): ("edit", "brighter"),
}
# Words that say the opposite side when an edit's own patterns do not exist for it (sharper = less blurry).
OPPOSITE_PATTERNS: dict[str, tuple[str, ...]] = {
    "blur": (r"sharper", r"sharp focus", r"sharp images?", r"crisp"),
    "lowres": (r"high(er)? resolution", r"sharper", r"sharp focus", r"sharp images?"),
    "downscale": (r"larger", r"more megapixels", r"wider in pixels", r"taller in pixels", r"high(er)? resolution"),
}

_OBJECT_ATTRIBUTES = ("shape", "colour", "size", "texture", "position", "count")
_BACKGROUND_VETO = (r"backgrounds?",)
_OBJECT_VETO = (r"objects?", r"shapes?", r"circles?", r"squares?", r"triangles?", r"stars?", r"rings?")
_ABSENT_FROM_WORLD = (r"rectangles?", r"watermarks?", r"logos?", r"text", r"borders?", r"bars", r"tint",
                      r"colou?r cast", r"lines?", r"image noise", r"artifacts?", r"artefacts?", r"angle",
                      r"top-down", r"off-cent(er|re)", r"light(ing)?", r"black and white")
# Words of another attribute that share a word with this one: "small dots" is about texture, not size.
_EXTRA_VETO = {"size": (r"dots?", r"stripes?"), "count": (r"colou?rs?",)}
_NEGATION = re.compile(r"^\s*(less|no|not|without|never)\s+", re.IGNORECASE)


@lru_cache(maxsize=1)
def measurement_statements() -> frozenset[str]:
    """Every statement the measurement proposer can make ("blurrier", "redder", ...), lower case."""
    return frozenset(s.lower() for m in MEASUREMENTS for s in (m.higher, m.lower))


@lru_cache(maxsize=None)
def _compile(patterns: tuple[str, ...]) -> re.Pattern | None:
    if not patterns:
        return None
    return re.compile(r"(?<![\w-])(" + "|".join(patterns) + r")(?![\w-])", re.IGNORECASE)


def _names(statement: str, patterns: Sequence[str]) -> bool:
    regex = _compile(tuple(patterns))
    return bool(regex and regex.search(statement))


def _patterns(attribute: str, value: str) -> tuple[str, ...]:
    if attribute == "edit":
        return EDIT_PATTERNS.get(value, ())
    return WORLD_PATTERNS.get((attribute, value), ())


def _vetoed(statement: str, planted: Planted) -> bool:
    if planted.kind == "edit":
        return False
    if statement.strip().lower() in measurement_statements():
        return True
    if _names(statement, _ABSENT_FROM_WORLD):
        return True
    if _names(statement, _EXTRA_VETO.get(planted.attribute, ())):
        return True
    if planted.attribute in _OBJECT_ATTRIBUTES:
        return _names(statement, _BACKGROUND_VETO)
    return _names(statement, _OBJECT_VETO)


def _other(side: str) -> str:
    return "a" if side == "b" else "b"


def _matches_local(statement: str, more_in: str, planted: Planted) -> bool:
    negated = _NEGATION.match(statement)
    if negated:
        statement, more_in = statement[negated.end():], _other(more_in)
    if more_in != planted.more_in or not _names(statement, LOCAL_KIND_PATTERNS.get(planted.value, ())):
        return False
    if not all(_names(statement, (word,)) for word in LOCAL_ALSO.get(planted.value, ())):
        return False
    if planted.colours and not _names(statement, tuple(planted.colours)):
        return False
    size = _SIZE.search(statement)
    if planted.size is not None and size:
        said = (float(size.group(1)) + float(size.group(2))) / 2
        return abs(said - planted.size) <= SIZE_TOLERANCE * planted.size
    return True


def matches(statement: str, more_in: str, planted: Planted) -> bool:
    """Does the claim "set ``more_in`` has more of ``statement``" name ``planted``? (rules: module docstring)"""
    if planted.kind == "local":
        return _matches_local(statement, more_in, planted)
    if _vetoed(statement, planted):
        return False
    negated = _NEGATION.match(statement)
    if negated:
        statement, more_in = statement[negated.end():], _other(more_in)
    if more_in == planted.more_in and _names(statement, _patterns(planted.attribute, planted.value)):
        return True
    if more_in != planted.more_in:
        complement = COMPLEMENTS.get((planted.attribute, planted.value))
        if complement:
            return _names(statement, _patterns(*complement))
        return planted.kind == "edit" and _names(statement, OPPOSITE_PATTERNS.get(planted.value, ()))
    return False


@dataclass(frozen=True)
class Claim:
    """One entry of a method's ranked answer."""

    statement: str
    more_in: str
    score: float = float("nan")

    def to_json(self) -> list:
        return [self.statement, self.more_in, None if self.score != self.score else round(float(self.score), 4)]


def first_match(claims: Sequence[Claim], planted: Planted) -> int | None:
    """1-based rank of the first claim that matches ``planted``, or None."""
    for rank, claim in enumerate(claims, start=1):
        if matches(claim.statement, claim.more_in, planted):
            return rank
    return None


def best_rank(claims: Sequence[Claim], planted: Iterable[Planted]) -> int | None:
    """The best rank at which any of the planted differences is named (Acc@k counts rank <= k)."""
    ranks = [r for p in planted if (r := first_match(claims, p)) is not None]
    return min(ranks) if ranks else None


def unmatched_vocabulary() -> list[tuple[str, str]]:
    """(attribute, value) pairs of the world and the edits that have no accepted pattern (should be none)."""
    missing = [("edit", e) for e in EDITS if e not in EDIT_PATTERNS]
    for attribute, (_, vocabulary, _) in _ATTRIBUTES.items():
        if attribute == "count":
            continue
        missing += [(attribute, v) for v in vocabulary if v != "anywhere" and (attribute, v) not in WORLD_PATTERNS]
    return missing

"""What the model is asked, the JSON schema its answer must follow, and how the answer is read.

The schema bounds every part of the answer (at most MAX_STATEMENTS statements of at most
MAX_CHARS plain ASCII characters), so llama.cpp's grammar makes it parse and end even when the
model's weights are random: :data:`ANSWER_TOKENS` tokens always suffice. Statements are noun
phrases that complete "a photo of ...", which is how the CLIP text tower scores them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

MAX_STATEMENTS = 5
MIN_CHARS, MAX_CHARS = 3, 80
# ASCII letters, digits and plain punctuation: what CLIP's English tokenizer reads well, and no
# quotes or escapes, so every character costs at least one token and the answer length is bounded.
STATEMENT_PATTERN = f"^[A-Za-z][A-Za-z0-9 ,'()/-]{{{MIN_CHARS - 1},{MAX_CHARS - 1}}}$"

ANSWER_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "statements": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_STATEMENTS,
            "items": {
                "type": "object",
                "properties": {
                    "more_in": {"type": "string", "enum": ["A", "B"]},
                    "statement": {"type": "string", "pattern": STATEMENT_PATTERN},
                },
                "required": ["more_in", "statement"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["statements"],
    "additionalProperties": False,
}

# Longest answer the schema admits, in characters; each is at least one token. 48 covers the keys,
# quotes, braces and the optional spaces of one item; 24 the outer object.
ANSWER_TOKENS = MAX_STATEMENTS * (MAX_CHARS + 48) + 24

SYSTEM = (
    "You are a careful visual analyst. You compare two sets of images and name differences that are "
    "visible in the pictures and could be checked on new images from the same sets."
)

_RULES = (
    "List up to {n} short statements of what appears more in one set than in the other. Each statement is a "
    "noun phrase of 2 to 8 words that completes 'a photo of ...' (for example: 'a dog on grass', 'snowy "
    "weather', 'a blurry close-up', 'people wearing hats'), names something you can see, and says which set "
    "has more of it: \"A\" or \"B\". Give statements for both sets where you can. Do not mention the sets, "
    "the grid, the labels or positions of pictures. Answer with JSON only."
)
_NOT_IMAGES = {"set a", "set b", "left panel", "right panel", "top row", "bottom row"}


@dataclass(frozen=True)
class Statement:
    """One claim read from an answer: ``text`` appears more in set ``more_in`` ("a" or "b")."""

    text: str
    more_in: str


@dataclass(frozen=True)
class Hints:
    """What the engine already knows about one direction, from the discovery half only.

    Held-out numbers are never shown to the model: its proposals must not depend on the images
    that will judge them.
    """

    space: str
    index: int
    discovery_auroc: float
    n_a: int
    n_b: int
    phrases_a: tuple[str, ...] = ()  # vocabulary phrases aligned with set A's side of the direction
    phrases_b: tuple[str, ...] = ()
    measurements: tuple[str, ...] = ()  # "set B images are brighter (discovery AUROC 0.71)"

    def lines(self) -> list[str]:
        out = [f"These pictures were chosen automatically as those that differ most along one direction of the "
               f"'{self.space}' image embedding (a linear probe tells the sets apart with cross-validated "
               f"AUROC {self.discovery_auroc:.2f} on these training images)."]
        if self.phrases_a or self.phrases_b:
            out.append("Phrases from a fixed vocabulary that match this difference (they may be wrong): "
                       + "; ".join(filter(None, [
                           f"towards set A: {', '.join(self.phrases_a)}" if self.phrases_a else "",
                           f"towards set B: {', '.join(self.phrases_b)}" if self.phrases_b else ""])) + ".")
        if self.measurements:
            out.append("Measured differences between all training images: " + "; ".join(self.measurements) + ".")
        return out


def messages(hints: Hints, images: Sequence[str], n: int = MAX_STATEMENTS) -> list[dict]:
    """Chat messages asking for statements about one direction.

    images : data URIs: two (set A's grid, then set B's), one (both side by side, A left), or none for a
        text-only model, which is then asked to turn the engine's hints into statements
    """
    rules = _RULES.format(n=n)
    context = " ".join(hints.lines())
    if len(images) == 2:
        content: list[Any] = [
            {"type": "text", "text": f"Set A ({hints.n_a} example pictures):"},
            {"type": "image_url", "image_url": {"url": images[0]}},
            {"type": "text", "text": f"Set B ({hints.n_b} example pictures):"},
            {"type": "image_url", "image_url": {"url": images[1]}},
            {"type": "text", "text": f"{context}\n\n{rules}"},
        ]
    elif len(images) == 1:
        content = [
            {"type": "image_url", "image_url": {"url": images[0]}},
            {"type": "text", "text": f"Left half: {hints.n_a} example pictures of set A. Right half: {hints.n_b} "
                                     f"of set B.\n{context}\n\n{rules}"},
        ]
    else:
        content = (f"You cannot see the two image sets, A and B; here is what automatic analysis found.\n{context}"
                   f"\n\n{rules}")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]


def read_statements(answer: Any) -> tuple[list[Statement], list[str]]:
    """The usable statements of a parsed answer, and a reason for each one dropped.

    Accepts what the schema allows and is lenient about the rest (a model run without the grammar):
    statements are trimmed, a leading "a photo of" is removed, duplicates and statements about the
    sets or the layout rather than the pictures are dropped.
    """
    items = answer.get("statements") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        return [], ["the answer has no list of statements"]
    out: list[Statement] = []
    dropped: list[str] = []
    seen: set[tuple[str, str]] = set()
    for item in items:
        if not isinstance(item, dict):
            dropped.append(f"{item!r}: not an object")
            continue
        side = str(item.get("more_in", "")).strip().lower()
        text = normalise(str(item.get("statement", "")))
        if side not in ("a", "b"):
            dropped.append(f"{text!r}: more_in is {item.get('more_in')!r}, not A or B")
        elif not MIN_CHARS <= len(text) <= MAX_CHARS:
            dropped.append(f"{text!r}: {len(text)} characters, expected {MIN_CHARS} to {MAX_CHARS}")
        elif any(word in text.lower() for word in _NOT_IMAGES):
            dropped.append(f"{text!r}: about the sets or the layout, not about what the pictures show")
        elif (text.lower(), side) in seen:
            dropped.append(f"{text!r}: said twice")
        else:
            seen.add((text.lower(), side))
            out.append(Statement(text=text, more_in=side))
    return out, dropped


def normalise(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip().strip(".").strip()
    return re.sub(r"^(an? )?(photo|picture|image) of (an? )?", lambda m: m.group(3) or "", text, flags=re.I).strip()

"""Checking parameters against one table of constraints, in scikit-learn's manner.

A class states what each of its parameters may be — ``{"alpha": [Interval(float, 0, 1, closed="neither")]}`` —
and :func:`validate_params` checks every one, raising :class:`~spotdiff.errors.InvalidParameterError` (also a
``ValueError``) that names the parameter, the value found and what is expected.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from .errors import InvalidParameterError


class Constraint:
    """One way a value may be valid; ``describe`` says it in words for the error message."""

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Interval(Constraint):
    """A real number (or an integer, for ``int``) between ``low`` and ``high`` (None: unbounded).

    closed : "both", "left", "right" or "neither" — which ends belong to the interval
    """

    kind: type
    low: float | None
    high: float | None
    closed: str = "both"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is int and not isinstance(value, numbers.Integral):
            return False
        if not isinstance(value, numbers.Real) or (isinstance(value, float) and math.isnan(value)):
            return False
        left = self.low is None or (value >= self.low if self.closed in ("both", "left") else value > self.low)
        right = self.high is None or (value <= self.high if self.closed in ("both", "right") else value < self.high)
        return left and right

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        brackets = {"both": "[]", "left": "[)", "right": "(]", "neither": "()"}[self.closed]
        return f"{what} in {brackets[0]}{lo}, {hi}{brackets[1]}"


@dataclass(frozen=True)
class Options(Constraint):
    """One of a few values."""

    values: tuple

    def accepts(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class InstanceOf(Constraint):
    """An instance of one of ``types`` (bool is never taken for an int)."""

    types: tuple[type, ...]
    words: str = ""

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) and bool not in self.types:
            return False
        return isinstance(value, self.types)

    def describe(self) -> str:
        return self.words or " or ".join(t.__name__ for t in self.types)


@dataclass(frozen=True)
class Satisfies(Constraint):
    """Whatever ``check`` accepts, described as ``words``."""

    check: Callable[[Any], bool]
    words: str

    def accepts(self, value: Any) -> bool:
        return bool(self.check(value))

    def describe(self) -> str:
        return self.words


NONE = Options((None,))
BOOL = InstanceOf((bool,), "True or False")
PATH = InstanceOf((str, os.PathLike), "a path")
TEXT = Satisfies(lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string")


def _paths(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str) and all(
        isinstance(p, (str, os.PathLike)) for p in value)


PATHS = Satisfies(_paths, "a path or a sequence of paths (folders or image files)")


def validate_params(params: Mapping[str, Any], constraints: Mapping[str, Sequence[Constraint]]) -> None:
    """Raise InvalidParameterError for the first parameter that no constraint of its list accepts.

    Every parameter must have an entry (a parameter without one is a bug of the table, not of the
    caller: AssertionError).
    """
    for name, value in params.items():
        assert name in constraints, f"no constraint for parameter {name!r}"
        options = constraints[name]
        if not any(c.accepts(value) for c in options):
            raise InvalidParameterError(name, value, " or ".join(c.describe() for c in options))

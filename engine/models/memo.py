"""Small JSON files in the user cache folder that remember slow answers between runs.

A memo only saves time: a missing, unreadable or half-written one reads as empty, and a failure to
write it is logged at debug level and otherwise ignored.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from .paths import cache_dir


def memo_path(name: str) -> Path:
    return cache_dir() / name


def read_memo(name: str) -> dict:
    try:
        return dict(json.loads(memo_path(name).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return {}


def remember(name: str, key: str, value) -> None:
    """Set ``key`` in memo ``name`` (read again first, so entries of other processes are kept)."""
    path = memo_path(name)
    memo = read_memo(name)
    memo[key] = value
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(memo), encoding="utf-8")
        os.replace(tmp, path)  # atomic: another process never reads half a file
    except OSError as e:
        logging.getLogger(__name__).debug("cannot remember %s in %s: %s", key, path, e)

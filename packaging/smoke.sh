#!/usr/bin/env bash
# Smoke test of the Linux installer:
#   1. build the .deb and .tar.gz with packaging/build.sh, shipping a tiny model with --with-models;
#   2. unpack the .deb into a scratch root (dpkg -x: nothing is installed on this machine);
#   3. run the installed `spotdiff selftest` (Qt offscreen, an empty HOME, no network where the machine
#      lets us take it away) and check that the shipped model is found inside the app, also by
#      `spotdiff models pull` (which checks it and downloads nothing).
#
#   packaging/smoke.sh              build, then test
#   packaging/smoke.sh --deb FILE   test a .deb built before (then FILE's build must have shipped tiny-vlm)
#
# Needs the project's .venv (scripts/install.sh --test) to write the tiny model. Work folder:
# build/packaging/smoke (override: SPOTDIFF_SMOKE_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${SPOTDIFF_SMOKE_DIR:-$ROOT/build/packaging/smoke}
PY=${PY:-$ROOT/.venv/bin/python}
DEB=""
[ "${1:-}" = "--deb" ] && DEB=$(realpath "${2:?--deb needs a file}")
START=$SECONDS
step() { printf '\n== smoke [%4ss] %s\n' "$((SECONDS - START))" "$*"; }
fail() { echo "smoke.sh: FAILED: $*" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK"
if [ -z "$DEB" ]; then
  step "a tiny model to ship: tiny-vlm (random-weight GGUF pair, spotdiff.models.vlm.tiny)"
  mkdir -p "$WORK/models"
  "$PY" -m spotdiff.models.vlm.tiny "$WORK/models/tiny-vlm"
  mv "$WORK/models/tiny-vlm/tiny-vlm.json" "$WORK/models/"  # its registry entry, sha256 included

  step "packaging/build.sh --with-models $WORK/models"
  BUILD_START=$SECONDS
  packaging/build.sh --with-models "$WORK/models" --out "$WORK/out"
  echo "build: $((SECONDS - BUILD_START)) s"
  DEB=$(ls "$WORK"/out/spotdiff_*_amd64.deb)
fi

step "the package: $(basename "$DEB") ($(du -m "$DEB" | cut -f1) MB)"
dpkg-deb --info "$DEB" | sed -n '/Package:/,/Description:/p'
dpkg-deb --contents "$DEB" > "$WORK/contents.txt"
for path in ./usr/bin/spotdiff ./usr/bin/spotdiff-gui ./usr/share/applications/spotdiff.desktop \
    ./usr/share/icons/hicolor/256x256/apps/spotdiff.png ./opt/spotdiff/spotdiff ./opt/spotdiff/spotdiff-gui; do
  grep -q " $path\( \|$\)" "$WORK/contents.txt" || fail "$path is not in the package"
done
if command -v desktop-file-validate >/dev/null; then desktop-file-validate packaging/linux/spotdiff.desktop; fi

step "what apt-get would install with it: its Depends"
dpkg-deb --field "$DEB" Depends
missing=""
for pkg in $(dpkg-deb --field "$DEB" Depends | sed 's/([^)]*)//g; s/,/ /g'); do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
elif [ -n "$missing" ]; then
  fail "this machine lacks packages the .deb depends on: sudo apt-get install$missing"
fi

step "dpkg -x into a scratch root"
dpkg -x "$DEB" "$WORK/root"
echo "unpacked: $(du -sm "$WORK/root" | cut -f1) MB in $WORK/root"
mkdir -p "$WORK/home"

step "no AMX code in any shipped CPU backend of llama.cpp (objdump)"
"$PY" scripts/llama_wheel.py check --folder "$WORK/root/opt/spotdiff" || fail "a shipped libggml-cpu library holds AMX code"
# a clean environment: nothing of this checkout or its venv, an empty home, Qt offscreen
run_installed() {
  env -i HOME="$WORK/home" PATH="$WORK/root/usr/bin:/usr/bin:/bin" LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen \
    TMPDIR="$WORK" "$@"
}
NET=""
if unshare --net true 2>/dev/null; then NET="unshare --net"; fi  # root on Linux: no network at all

step "spotdiff models (the app's own copy of tiny-vlm and toy-shapes must be found)"
run_installed $NET spotdiff models | tee "$WORK/models.txt" || fail "spotdiff models failed"
grep -q "^toy-shapes .* yes .*$WORK/root/opt/spotdiff/_internal/spotdiff/model_weights/toy-shapes" "$WORK/models.txt" ||
  fail "toy-shapes is not found inside the app"
grep -q "^tiny-vlm .* yes .*$WORK/root/opt/spotdiff/_internal/spotdiff/model_weights/tiny-vlm" "$WORK/models.txt" ||
  fail "tiny-vlm, shipped with --with-models, is not found inside the app"

step "spotdiff models pull toy-shapes (weights already inside the app: checked, nothing downloaded)"
run_installed $NET spotdiff models pull toy-shapes | tee "$WORK/pull.txt" || fail "spotdiff models pull failed"
grep -q "toy-shapes: weights ready at $WORK/root/opt/spotdiff/_internal/spotdiff/model_weights/toy-shapes" \
  "$WORK/pull.txt" || fail "models pull did not find toy-shapes inside the app"

step "spotdiff selftest ${NET:+(no network: $NET)}"
SELFTEST_START=$SECONDS
run_installed $NET spotdiff selftest 2>&1 | tee "$WORK/selftest.txt" || fail "spotdiff selftest failed"
SELFTEST_S=$((SECONDS - SELFTEST_START))
grep -q "frozen app in $WORK/root/opt/spotdiff" "$WORK/selftest.txt" || fail "selftest did not run the frozen app"

step "passed"
printf '.deb %s MB; unpacked %s MB; selftest %s s; smoke test %s s\n' "$(du -m "$DEB" | cut -f1)" \
  "$(du -sm "$WORK/root" | cut -f1)" "$SELFTEST_S" "$((SECONDS - START))"
echo "smoke: 1 passed, 0 failed"

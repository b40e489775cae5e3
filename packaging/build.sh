#!/usr/bin/env bash
# Build spotdiff's Linux installers: a .deb and a .tar.gz of the one-folder app (PyInstaller).
#
#   packaging/build.sh [--with-models DIR] [--no-deb] [--no-tar] [--out DIR]
#
#   --with-models DIR   also ship the model files in DIR (DIR/NAME/<files>, sha256-checked; see
#                       packaging/stage_models.py). The toy model ships in every build.
#   --no-deb, --no-tar  skip that artefact
#   --out DIR           where the artefacts go (default: dist/)
#
# Everything else lives under build/packaging/ (override: SPOTDIFF_BUILD_DIR): its own venv (the
# project's .venv is not touched), PyInstaller's work folder and the app folder. The portable
# llama-cpp-python wheel is compiled once per machine and kept in ~/.cache/spotdiff-build/wheels
# (override: SPOTDIFF_WHEEL_CACHE), so that fresh clones reuse it. Every package is pinned by
# packaging/constraints.txt. The app folder must stay within the size budget (1.5 GB unpacked, models
# from --with-models not counted). Needs Python 3.11 with its shared library ($PYTHON, default
# python3), a C++ compiler and CMake, and dpkg-deb; as root it installs the system packages it needs.
# packaging/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODELS=""; DEB=1; TAR=1; OUT=$ROOT/dist
while [ $# -gt 0 ]; do
  case "$1" in
    --with-models) MODELS=$(cd "${2:?--with-models needs a folder}" && pwd); shift 2 ;;
    --no-deb) DEB=0; shift ;;
    --no-tar) TAR=0; shift ;;
    --out) mkdir -p "${2:?--out needs a folder}"; OUT=$(cd "$2" && pwd); shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

BUILD=${SPOTDIFF_BUILD_DIR:-$ROOT/build/packaging}
PYTHON=${PYTHON:-python3}
BUDGET_BYTES=1500000000                  # 1.5 GB unpacked, the CPU build without extra models
# portable llama.cpp: no -march=native; one CPU backend per instruction set, the best picked at run
# time, installed beside libllama (the runtime hook points ggml there); the AMX variant is left out
# (SIGILL on Intel CPUs whose VM does not grant AMX state): scripts/llama_wheel.py
START=$SECONDS
step() { printf '\n== [%4ss] %s\n' "$((SECONDS - START))" "$*"; }
fail() { echo "build.sh: $*" >&2; exit 1; }

step "checks"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null ||
  fail "$PYTHON is not CPython 3.11, for which packaging/constraints.txt pins the packages (set PYTHON=...)"
[ "$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("Py_ENABLE_SHARED"))')" = 1 ] ||
  fail "$PYTHON has no shared libpython, which PyInstaller needs (build Python with --enable-shared)"
ls engine/model_weights/toy-shapes/* >/dev/null 2>&1 && [ -f engine/model_configs/toy-shapes.json ] ||
  fail "the toy model is missing (engine/model_configs/toy-shapes.json, engine/model_weights/toy-shapes/); every build ships it"
# Tools, and the system libraries the app links but does not carry (Qt's X11, xcb, Wayland, EGL and
# font stack, D-Bus, OpenMP for llama.cpp): present at build time, so that every build machine
# gives the same app and packaging/linux/depends.py can name their packages for the .deb.
TOOLS="binutils cmake g++ dpkg"
RUNTIME="libbrotli1 libdbus-1-3 libdrm2 libegl1 libfontconfig1 libfreetype6 libgcc-s1 libgl1 libglib2.0-0 libgomp1
  libgssapi-krb5-2 libstdc++6 libwayland-client0 libwayland-cursor0 libwayland-egl1 libx11-6 libx11-xcb1 libxcb1
  libxcb-cursor0 libxcb-glx0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render0
  libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1 libxcb-xfixes0 libxcb-xkb1 libxkbcommon0
  libxkbcommon-x11-0 libzstd1"
missing=""
for pkg in $TOOLS $RUNTIME; do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing:$missing"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
elif [ -n "$missing" ]; then
  fail "missing system packages; install them first: sudo apt-get install$missing"
fi
VERSION=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
echo "spotdiff $VERSION; build folder $BUILD; artefacts to $OUT"

step "build venv ($BUILD/venv)"
[ -x "$BUILD/venv/bin/python" ] || "$PYTHON" -m venv "$BUILD/venv"
VPY=$BUILD/venv/bin/python
"$VPY" -m pip install -q --upgrade pip

step "llama-cpp-python, portable build without AMX (scripts/llama_wheel.py)"
# compiled once per machine (~20 min on 2 cores) and kept in ~/.cache/spotdiff-build/wheels, keyed by
# version and flags (pip's own wheel cache ignores CMAKE_ARGS)
WHEEL=$("$VPY" scripts/llama_wheel.py build portable --python "$VPY")
# the listing is read whole before it is searched: `grep -q` closing the pipe early would break the lister
LISTING=$("$VPY" -m zipfile -l "$WHEEL")
grep -q "llama_cpp/lib/libggml-cpu-x64" <<<"$LISTING" ||
  fail "$WHEEL has no per-CPU backends (libggml-cpu-x64.so ...): not a portable build; delete its folder"
"$VPY" scripts/llama_wheel.py check --wheel "$WHEEL" || fail "$WHEEL holds AMX code"
echo "$WHEEL"

step "install spotdiff and its pinned dependencies into the build venv"
rm -rf build/lib build/bdist.*  # setuptools' staging folders: stale files there would be packaged
"$VPY" -m pip install -q -c packaging/constraints.txt "$WHEEL" ".[gui,vlm]" pyinstaller pyinstaller-hooks-contrib
"$VPY" -m pip install -q --no-deps --force-reinstall .  # the working tree as it is now, even at the same version
"$VPY" -m pip check

STAGE=""
if [ -n "$MODELS" ]; then
  step "models to ship from $MODELS"
  STAGE=$BUILD/models-stage
  (cd "$BUILD" && "$VPY" "$ROOT/packaging/stage_models.py" "$MODELS" "$STAGE")
fi

step "PyInstaller"
rm -rf "$BUILD/dist"
SPOTDIFF_MODELS_STAGE=$STAGE "$VPY" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$BUILD/dist" --workpath "$BUILD/work" packaging/spotdiff.spec
APP=$BUILD/dist/spotdiff
# for the .tar.gz: a menu entry and icon that install-menu-entry.sh puts in the user's menu
mkdir -p "$APP/share"
install -m 644 packaging/linux/spotdiff.desktop packaging/icons/spotdiff.png "$APP/share/"
install -m 755 packaging/linux/install-menu-entry.sh "$APP/"
"$VPY" packaging/notices.py "$APP/THIRD-PARTY-NOTICES.txt"

step "size budget"
SIZE=$(du -sb "$APP" | cut -f1)
SHIPPED=0
[ -d "$APP/_internal/spotdiff_models" ] && for d in "$APP"/_internal/spotdiff_models/*.json; do
  SHIPPED=$((SHIPPED + $(du -sb "$APP/_internal/spotdiff/model_weights/$(basename "$d" .json)" | cut -f1)))
done
printf 'app folder %s MB (%s MB of it shipped models); budget %s MB for the app without them\n' \
  $((SIZE / 1000000)) $((SHIPPED / 1000000)) $((BUDGET_BYTES / 1000000))
[ $((SIZE - SHIPPED)) -le $BUDGET_BYTES ] ||
  fail "the app is $(((SIZE - SHIPPED) / 1000000)) MB, over the budget of $((BUDGET_BYTES / 1000000)) MB: see the largest folders with du -sh $APP/_internal/* | sort -h"

NAME=spotdiff-$VERSION-linux-x86_64
mkdir -p "$OUT"
if [ "$TAR" = 1 ]; then
  step "$NAME.tar.gz"
  tar -C "$BUILD/dist" --owner=0 --group=0 --transform "s,^spotdiff,$NAME," -czf "$OUT/$NAME.tar.gz" spotdiff
  ls -l "$OUT/$NAME.tar.gz"
fi

if [ "$DEB" = 1 ]; then
  step "spotdiff_${VERSION}-1_amd64.deb"
  ROOTFS=$BUILD/deb
  rm -rf "$ROOTFS"
  mkdir -p "$ROOTFS/DEBIAN" "$ROOTFS/opt" "$ROOTFS/usr/bin" "$ROOTFS/usr/share/applications" \
    "$ROOTFS/usr/share/icons/hicolor/256x256/apps" "$ROOTFS/usr/share/doc/spotdiff"
  cp -a "$APP" "$ROOTFS/opt/spotdiff"
  rm -r "$ROOTFS/opt/spotdiff/share" "$ROOTFS/opt/spotdiff/install-menu-entry.sh"  # the .tar.gz's menu entry
  ln -s ../../opt/spotdiff/spotdiff "$ROOTFS/usr/bin/spotdiff"  # relative: right inside a dpkg -x root too
  ln -s ../../opt/spotdiff/spotdiff-gui "$ROOTFS/usr/bin/spotdiff-gui"
  install -m 644 packaging/linux/spotdiff.desktop "$ROOTFS/usr/share/applications/"
  install -m 644 packaging/icons/spotdiff.png "$ROOTFS/usr/share/icons/hicolor/256x256/apps/"
  install -m 644 packaging/README.md "$ROOTFS/usr/share/doc/spotdiff/README.md"
  printf '%s\n' "spotdiff $VERSION: Apache License 2.0 (/usr/share/common-licenses/Apache-2.0)." \
    "/opt/spotdiff carries third-party packages under their own licences: /opt/spotdiff/THIRD-PARTY-NOTICES.txt" \
    > "$ROOTFS/usr/share/doc/spotdiff/copyright"
  DEPENDS=$("$VPY" packaging/linux/depends.py "$APP")  # as dpkg-shlibdeps would say; see the script
  sed -e "s/@VERSION@/$VERSION-1/" -e "s/@INSTALLED_SIZE@/$(du -sk --exclude=DEBIAN "$ROOTFS" | cut -f1)/" \
    -e "s/@DEPENDS@/$DEPENDS/" packaging/linux/control.in > "$ROOTFS/DEBIAN/control"
  chmod -R u+rwX,go+rX,go-w "$ROOTFS"
  # xz compresses ~3.5x; SPOTDIFF_DEB_COMPRESSION=gzip or zstd is faster to build
  dpkg-deb --root-owner-group -Z"${SPOTDIFF_DEB_COMPRESSION:-xz}" --build "$ROOTFS" "$OUT/spotdiff_${VERSION}-1_amd64.deb"
  ls -l "$OUT/spotdiff_${VERSION}-1_amd64.deb"
fi

step "done"
ls -l "$OUT"

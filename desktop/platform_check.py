"""Can Qt open a window here? Asked before ``QApplication`` exists, because Qt aborts inside its constructor.

Qt picks a platform plugin (``$QT_QPA_PLATFORM``, else xcb on Linux with an X display, wayland in a
Wayland session). When the plugin cannot load — no display, or a system library it links is missing —
Qt prints a stack of lines and aborts the process. This module answers the same question first, from
the files alone (``ldd`` on the plugin; no Qt module is imported), so that ``spotdiff-gui`` can say in
one line what is missing and how to fix it, ``spotdiff selftest`` can check it, and
``scripts/install.sh`` can install the Debian packages the plugin needs:

    python -m spotdiff.gui.platform_check --packages     # the Debian packages Qt's xcb plugin lacks here
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: platforms that need no display and no system library beyond what the offscreen tests need
HEADLESS = {"offscreen", "minimal", "minimalegl", "vnc"}
NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


@dataclass(frozen=True)
class PlatformProblem:
    """Why the Qt platform ``platform`` cannot load, in one line (``message``), and its fix."""

    platform: str
    message: str
    missing: tuple[str, ...] = ()   # shared libraries (sonames) the plugin links and the system lacks
    packages: tuple[str, ...] = ()  # the Debian packages that hold them

    def __str__(self) -> str:
        return self.message


def debian_package(soname: str) -> str:
    """The Debian package that holds a shared library, by Debian's library naming policy.

    ``libxcb-icccm.so.4`` -> ``libxcb-icccm4``, ``libxkbcommon-x11.so.0`` -> ``libxkbcommon-x11-0``,
    ``libEGL.so.1`` -> ``libegl1``, ``libdbus-1.so.3`` -> ``libdbus-1-3``.
    """
    stem, _, version = soname.partition(".so")
    stem, major = stem.lower(), version.lstrip(".").split(".")[0]
    if not major:
        return stem
    return f"{stem}-{major}" if stem[-1].isdigit() else f"{stem}{major}"


def requested_platform(environ=os.environ) -> str:
    """The platform plugin Qt will try first, as Qt chooses it on this system."""
    explicit = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if explicit:
        return explicit
    if sys.platform == "darwin":
        return "cocoa"
    if sys.platform.startswith("win"):
        return "windows"
    if environ.get("XDG_SESSION_TYPE") == "wayland" and environ.get("WAYLAND_DISPLAY"):
        return "wayland"
    return "xcb"


def qt_plugin(platform: str) -> Path | None:
    """The file of Qt's platform plugin ``platform`` inside the installed PySide6, or None."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "Qt" / "plugins" / "platforms"
    found = sorted(folder.glob(f"libq{platform}.so")) or sorted(folder.glob(f"libq{platform}*.so"))
    return found[0] if found else None


def missing_libraries(plugin: Path) -> list[str]:
    """Shared libraries that ``plugin`` (and the Qt library behind it) links and the system lacks."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    files = [plugin]
    if plugin.name == "libqxcb.so":  # the xcb plugin is a shim; its links are in libQt6XcbQpa
        files += sorted((plugin.parents[2] / "lib").glob("libQt6XcbQpa.so*"))[:1]
    missing: list[str] = []
    for path in files:
        out = subprocess.run([ldd, str(path)], capture_output=True, text=True).stdout
        missing += [m for m in NOT_FOUND.findall(out) if m not in missing]
    return missing


def x_display_answers(display: str) -> bool:
    """Whether an X server listens for ``display`` (":N" on this machine's socket; remote ones assumed up)."""
    match = re.fullmatch(r"(unix)?:(\d+)(\.\d+)?", display.strip())
    if not match:
        return True  # host:N over TCP or an ssh forward: leave it to Qt
    path = f"/tmp/.X11-unix/X{match.group(2)}"
    for address in (path, "\0" + path):  # the file socket, then the abstract one
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            try:
                sock.connect(address)
                return True
            except OSError:
                continue
    return False


def check_platform(environ=os.environ) -> PlatformProblem | None:
    """None when Qt's platform plugin can load here; otherwise what stands in its way."""
    platform = requested_platform(environ)
    if platform in HEADLESS or not sys.platform.startswith("linux"):
        return None
    if platform == "xcb":
        display = environ.get("DISPLAY", "")
        if not display:
            return PlatformProblem("xcb", "spotdiff-gui: no X display (DISPLAY is not set): run it inside a desktop "
                                   "session, under 'xvfb-run -a spotdiff-gui', or use the command line: spotdiff "
                                   "compare A B")
        if not x_display_answers(display):
            return PlatformProblem("xcb", f"spotdiff-gui: no X server answers on DISPLAY={display}: start one, or set "
                                   "DISPLAY to a running one (or use 'xvfb-run -a spotdiff-gui')")
    elif platform == "wayland" and not environ.get("WAYLAND_DISPLAY"):
        return PlatformProblem("wayland", "spotdiff-gui: QT_QPA_PLATFORM=wayland but WAYLAND_DISPLAY is not set: run "
                               "it inside a Wayland session, or set QT_QPA_PLATFORM=xcb")
    plugin = qt_plugin(platform)
    if plugin is None:
        return None  # an unknown platform or a PySide6 without plugins: Qt itself will say
    missing = missing_libraries(plugin)
    if missing:
        packages = tuple(dict.fromkeys(debian_package(m) for m in missing))
        return PlatformProblem(platform, f"spotdiff-gui: Qt's {platform} platform plugin cannot load: the system lacks "
                               f"{', '.join(missing)}; install them: sudo apt-get install {' '.join(packages)}",
                               tuple(missing), packages)
    return None


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Can Qt's platform plugin load here?")
    parser.add_argument("--packages", action="store_true",
                        help="print the Debian packages Qt's xcb plugin lacks here (nothing when none), and exit 0")
    args = parser.parse_args(argv)
    if args.packages:
        plugin = qt_plugin("xcb")
        missing = missing_libraries(plugin) if plugin else []
        print(" ".join(dict.fromkeys(debian_package(m) for m in missing)))
        return 0
    problem = check_platform()
    print(problem or f"Qt's {requested_platform()} platform plugin can load here")
    return 2 if problem else 0


if __name__ == "__main__":
    sys.exit(main())

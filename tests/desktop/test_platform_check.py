"""spotdiff-gui says in one line why Qt cannot open a window, instead of letting Qt abort."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from spotdiff.gui.platform_check import (check_platform, debian_package, missing_libraries, qt_plugin,
                                    requested_platform)


@pytest.mark.parametrize("soname, package", [
    ("libxcb-icccm.so.4", "libxcb-icccm4"), ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libEGL.so.1", "libegl1"), ("libdbus-1.so.3", "libdbus-1-3"), ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libX11-xcb.so.1", "libx11-xcb1"), ("libfontconfig.so.1", "libfontconfig1")])
def test_debian_package_names_follow_the_library_policy(soname, package):
    assert debian_package(soname) == package


@pytest.mark.skipif(shutil.which("dpkg") is None or shutil.which("ldd") is None, reason="not a Debian system")
def test_the_naming_rule_matches_dpkg_for_the_x11_libraries_present_here():
    plugin = qt_plugin("xcb")
    if plugin is None:
        pytest.skip("PySide6 has no xcb plugin here")
    qpa = sorted((plugin.parents[2] / "lib").glob("libQt6XcbQpa.so*"))[0]
    out = subprocess.run(["ldd", str(qpa)], capture_output=True, text=True).stdout
    found = re.findall(r"^\s*(lib(?:xcb|xkb|X11|EGL|dbus|fontconfig)\S*)\s+=>\s+(/\S+)", out, re.MULTILINE)
    checked = 0
    for soname, path in found:
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True, text=True)
        if owner.returncode != 0:
            continue
        package = owner.stdout.split(":")[0]
        assert debian_package(soname) == package, (soname, path)
        checked += 1
    assert checked >= 5, out


def test_the_platform_qt_will_try_first():
    assert requested_platform({"QT_QPA_PLATFORM": "offscreen"}) == "offscreen"
    assert requested_platform({"QT_QPA_PLATFORM": "xcb;offscreen"}) == "xcb"
    if sys.platform.startswith("linux"):
        assert requested_platform({"DISPLAY": ":0"}) == "xcb"
        assert requested_platform({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}) == "wayland"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 only")
def test_no_display_and_a_dead_display_are_named():
    assert check_platform({"QT_QPA_PLATFORM": "offscreen"}) is None
    problem = check_platform({"QT_QPA_PLATFORM": "xcb"})
    assert problem is not None and "no X display (DISPLAY is not set)" in str(problem)
    problem = check_platform({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":97"})
    assert problem is not None and "no X server answers on DISPLAY=:97" in str(problem)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 only")
def test_spotdiff_gui_without_a_display_exits_2_with_one_line():
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env["QT_QPA_PLATFORM"] = "xcb"
    done = subprocess.run([sys.executable, "-c", "import sys; from spotdiff.gui.app import main; sys.exit(main([]))"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spotdiff-gui: no X display"), lines


@pytest.mark.skipif(shutil.which("ldd") is None, reason="ldd is not installed")
def test_missing_libraries_names_what_ldd_cannot_find(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    (tmp_path / "dep.c").write_text("int dep(void) { return 1; }\n")
    (tmp_path / "plugin.c").write_text("int dep(void); int plugin(void) { return dep(); }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "libspotdiffdep.so.7"), str(tmp_path / "dep.c"),
                    "-Wl,-soname,libspotdiffdep.so.7"], check=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "libqfake.so"), str(tmp_path / "plugin.c"),
                    str(tmp_path / "libspotdiffdep.so.7")], check=True)
    (tmp_path / "libspotdiffdep.so.7").unlink()  # as on a machine that lacks the package
    assert missing_libraries(tmp_path / "libqfake.so") == ["libspotdiffdep.so.7"]

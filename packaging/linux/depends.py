"""The Debian packages an app folder needs from the system: its .deb's Depends, as dpkg-shlibdeps would say.

    python packaging/linux/depends.py APP_FOLDER      # prints "libc6 (>= 2.36), libdbus-1-3, ..."

Each library that an ELF file of the folder links directly (DT_NEEDED) is resolved as the loader
resolves it when the app runs: the file's RUNPATH/RPATH, then the app's _internal/ folder (which
PyInstaller's bootloader puts on LD_LIBRARY_PATH), then the system's library cache; libraries found
on the system are looked up with ``dpkg -S``. One found nowhere may still be one the app carries
elsewhere, loaded earlier under the same name (torch's libraries, for torchvision); one the app
does not carry at all is an error, except torchvision's CUDA operators, which are never loaded beside
the CPU build of torch (spotdiff/models/_torchvision_compat.py). libc6 gets a minimum version: the newest
GLIBC_ symbol version any file requires.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

NEVER_LOADED = {"libc10_cuda.so", "libtorch_cuda.so"}


def elf_files(app: Path) -> list[Path]:
    out = []
    for path in sorted(app.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as fp:
                if fp.read(4) == b"\x7fELF":
                    out.append(path)
    return out


def dynamic_info(files: list[Path]) -> dict[Path, tuple[list[str], list[str], set[str]]]:
    """{file: (needed names, runpath folders, GLIBC versions required)}, from one objdump run per 200 files."""
    info = {}
    for i in range(0, len(files), 200):
        chunk = files[i:i + 200]
        out = subprocess.run(["objdump", "-p", *map(str, chunk)], capture_output=True, text=True, check=False).stdout
        for block in re.split(r"\n(?=\S+:\s+file format )", out):
            head = re.match(r"\s*(\S+):\s+file format ", block)
            if not head:
                continue
            path = Path(head.group(1))
            runpath = re.findall(r"^\s+(?:RUNPATH|RPATH)\s+(\S+)", block, re.M)
            folders = [p.replace("$ORIGIN", str(path.parent)).replace("${ORIGIN}", str(path.parent))
                       for entry in runpath for p in entry.split(":")]
            info[path] = (re.findall(r"^\s+NEEDED\s+(\S+)", block, re.M), folders,
                          set(re.findall(r"GLIBC_(2\.\d+)", block)))
    return info


def system_cache() -> dict[str, str]:
    """{library name: path} of the system's x86-64 libraries (ldconfig's cache)."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    cache = {}
    for name, flags, path in re.findall(r"^\s+(\S+) \(([^)]*)\) => (\S+)$", out, re.M):
        if "x86-64" in flags:
            cache.setdefault(name, path)
    return cache


@functools.lru_cache(maxsize=None)
def owner(path: str) -> str:
    for candidate in (path, os.path.realpath(path)):
        done = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return done.stdout.split(":", 1)[0]
    raise SystemExit(f"depends.py: {path} belongs to no Debian package; install the library from one")


def depends(app: Path) -> str:
    app = app.resolve()
    files = elf_files(app)
    carried = {path.name for path in app.rglob("*")}
    info, cache = dynamic_info(files), system_cache()
    packages, glibc, missing = set(), set(), []
    for path, (names, runpath, versions) in info.items():
        glibc |= versions
        for name in names:
            if any(os.path.exists(os.path.join(folder, name)) for folder in [*runpath, str(app / "_internal")]):
                continue
            if name in cache:
                packages.add(owner(cache[name]))
            elif name not in carried and name not in NEVER_LOADED:
                missing.append(f"{path.relative_to(app)} needs {name}")
    if missing:
        raise SystemExit("depends.py: libraries found neither in the app nor on this machine:\n  "
                         + "\n  ".join(missing) + "\nInstall them on the build machine (packaging/README.md).")
    packages.discard("libc6")
    newest = max(glibc, key=lambda v: tuple(map(int, v.split("."))))
    return ", ".join([f"libc6 (>= {newest})"] + sorted(packages))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: depends.py APP_FOLDER")
    print(depends(Path(sys.argv[1])))

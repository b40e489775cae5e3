"""List the third-party packages a frozen build carries, with their versions and licences.

    python packaging/notices.py OUT_FILE     # run with the build venv's Python (packaging/build.sh does)

Every distribution installed in the build venv is listed, except the build tools, which the app
does not carry. The licence is the package's own declaration (License-Expression, else License,
else its "License ::" classifiers); the full texts lie in the packages' sources, and Qt's (LGPL-3.0)
in the app folder's PySide6 directory.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

BUILD_ONLY = {"pip", "setuptools", "wheel", "pyinstaller", "pyinstaller-hooks-contrib", "altgraph"}


def licence(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    declared = meta.get("License-Expression") or (meta.get("License") or "").strip().splitlines()[:1]
    if isinstance(declared, list):
        declared = declared[0] if declared else ""
    if declared and len(declared) <= 80 and not declared.lower().startswith("copyright"):
        return declared
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return "; ".join(classifiers) or "see the package's source"


def main(out: Path) -> None:
    rows = sorted({(d.metadata["Name"], d.version, licence(d)) for d in metadata.distributions()
                   if d.metadata["Name"] and d.metadata["Name"].lower() not in BUILD_ONLY},
                  key=lambda row: row[0].lower())
    lines = ["spotdiff is licensed under the Apache License 2.0. This build also carries the packages",
             "below, each under its own licence (as the package declares it):", ""]
    lines += [f"{name} {version}: {text}" for name, version, text in rows if name.lower() != "spotdiff"]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: notices.py OUT_FILE")
    main(Path(sys.argv[1]))

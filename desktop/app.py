"""``spotdiff-gui``: open the main window (optionally with set A and set B already named)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

log = logging.getLogger("desktop")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spotdiff-gui", description="spotdiff desktop app: how do two sets of "
                                     "images differ?")
    parser.add_argument("set_a", nargs="?", help="folder or image file of set A")
    parser.add_argument("set_b", nargs="?", help="folder or image file of set B")
    parser.add_argument("--model", help="embedding model to select (see 'spotdiff models')")
    parser.add_argument("--run", action="store_true", help="start comparing at once (needs both sets)")
    parser.add_argument("--selftest", action="store_true",
                        help="open the main window, draw it once and close it; exit 0 if it drew (spotdiff selftest)")
    parser.add_argument("--check-platform", action="store_true",
                        help="say whether Qt's platform plugin can open a window here (no window opened); exit 0 or 2")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .platform_check import check_platform, requested_platform

    if args.check_platform:
        problem = check_platform()
        print(problem or f"Qt's {requested_platform()} platform plugin can load here")
        return 2 if problem else 0
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is None:
        # Qt aborts inside QApplication() when its platform plugin cannot load: say why first, in one line
        problem = check_platform()
        if problem is not None:
            print(problem, file=sys.stderr)
            return 2

    from .errors import install_crash_handler, log_path, setup_logging
    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("spotdiff")
    app.setOrganizationName("spotdiff")
    app.setStyle("Fusion")
    setup_logging()
    log.info("spotdiff-gui starting on Qt platform %r; log at %s", app.platformName(), log_path())
    if args.selftest:
        from .selftest import run_selftest

        return run_selftest(app)
    window = MainWindow(restore=not (args.set_a or args.set_b))
    install_crash_handler(lambda: window)
    if args.model:
        window.picker.set_current(args.model)
    if args.set_a:
        window.sets["a"].set_sources([args.set_a])
    if args.set_b:
        window.sets["b"].set_sources([args.set_b])
    window.show()
    if args.run:
        window.start_run()
    code = app.exec()
    log.info("spotdiff-gui exiting with code %s", code)
    return code


if __name__ == "__main__":
    sys.exit(main())

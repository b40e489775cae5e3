"""Entry point of the frozen `spotdiff-gui` program (packaging/spotdiff.spec)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from spotdiff.gui.app import main

    sys.exit(main())

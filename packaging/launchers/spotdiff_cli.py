"""Entry point of the frozen `spotdiff` command (packaging/spotdiff.spec)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a child process of the frozen app runs its task, not the CLI
    from spotdiff.apps.cli import main

    sys.exit(main())

"""spotdiff's desktop app: every module (the `spotdiff-gui` entry point reaches them through spotdiff.gui.app)."""

from PyInstaller.utils.hooks import collect_submodules

hiddenimports = collect_submodules("desktop")

"""spotdiff's engine: model registry JSONs, shipped weights (toy-shapes), the concept bank, report CSS.

Much of the engine is imported on first use (models by kind, proposers, the VLM runtime), so every
submodule is collected, not only those the entry point reaches.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

datas = collect_data_files("engine") + copy_metadata("spotdiff")
hiddenimports = collect_submodules("engine")

"""spotdiff: the engine's data (model registry JSONs, shipped weights, the concept bank, report CSS) and every
module, the desktop app's (spotdiff.gui) included.

A few modules are imported on first use (a CLIP embedder, the DICOM and NIfTI readers, the VLM runtime's
llama.cpp), so every submodule is collected, not only those the entry points reach.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

datas = collect_data_files("spotdiff") + copy_metadata("spotdiff")
hiddenimports = collect_submodules("spotdiff")

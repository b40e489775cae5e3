"""faiss: the loader picks its SWIG module by CPU features at import time, by name; keep every variant
and the libfaiss it links beside it."""

from PyInstaller.utils.hooks import collect_dynamic_libs, collect_submodules

hiddenimports = collect_submodules("faiss", filter=lambda name: not name.startswith("faiss.contrib"))
binaries = collect_dynamic_libs("faiss")

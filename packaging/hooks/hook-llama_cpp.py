"""llama_cpp: ctypes loads its shared libraries by path, so analysis never sees them; collect them all.

The portable build (packaging/build.sh) has one CPU backend per instruction set (libggml-cpu-haswell.so,
...-icelake.so, ...): none is linked, ggml picks the best at run time (pyi_rth_spotdiff.py points it
at this folder). Without this hook: "Shared library with base name 'llama' not found".
"""

from PyInstaller.utils.hooks import PY_DYLIB_PATTERNS, collect_data_files, collect_dynamic_libs

binaries = collect_dynamic_libs("llama_cpp", search_patterns=PY_DYLIB_PATTERNS + ["*.so.*"])
datas = collect_data_files("llama_cpp")
hiddenimports = ["llama_cpp.llama_chat_format", "llama_cpp.mtmd_cpp", "llama_cpp._logger", "llama_cpp._ggml"]

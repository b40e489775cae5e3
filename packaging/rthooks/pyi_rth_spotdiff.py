"""Runtime hook of the frozen spotdiff: runs before `spotdiff` or `spotdiff-gui` starts.

* Offline by default. Installed on workstations that are often offline, spotdiff must never wait on
  a model hub: the Hugging Face libraries read their local caches only. A user who is online and
  wants a model runs ``HF_HUB_OFFLINE=0 spotdiff models pull NAME``; a value set by the user wins.
* Models shipped inside the app (packaging/build.sh --with-models DIR) lie in
  ``<app>/spotdiff/model_weights/NAME``; their registry entries (the shipped ones, plus "bundled")
  lie in ``<app>/spotdiff_models``, which goes first in SPOTDIFF_REGISTRY so that a user's own
  entries still override them. The user's models folder and the Hugging Face cache are searched
  as in a source install, after the app's own copy.
* llama.cpp's CPU backend of the portable build is one library per instruction set, loaded at run
  time from the executable's folder or the working directory; here they lie in
  ``<app>/llama_cpp/lib``, so ggml is told to pick the best one from there.
"""

import os
import sys
from pathlib import Path

_APP = Path(getattr(sys, "_MEIPASS", Path(__file__).parent))


def _offline() -> None:
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        os.environ.setdefault(name, "1")


def _shipped_models() -> None:
    registry = _APP / "spotdiff_models"
    if registry.is_dir():
        user = os.environ.get("SPOTDIFF_REGISTRY", "")
        os.environ["SPOTDIFF_REGISTRY"] = os.pathsep.join(p for p in (str(registry), user) if p)


def _llama_backends() -> None:
    import ctypes

    lib = _APP / "llama_cpp" / "lib"
    names = {"linux": "libggml.so", "darwin": "libggml.dylib", "win32": "ggml.dll"}
    ggml = lib / names.get(sys.platform, "libggml.so")
    if not ggml.is_file() or not any(lib.glob("*ggml-cpu-*")):
        return  # a build with the CPU backend linked in: nothing to load
    try:
        handle = ctypes.CDLL(str(ggml), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
        log_callback = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
        quiet = log_callback(lambda level, text, user_data: None)  # not "loaded CPU backend ..." at every start
        handle.ggml_log_set.argtypes = [log_callback, ctypes.c_void_p]
        handle.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
        handle.ggml_log_set(quiet, None)
        try:
            handle.ggml_backend_load_all_from_path(os.fsencode(lib))
        finally:
            handle.ggml_log_set(log_callback(), None)  # ggml's own logger again; llama_cpp installs its own
        handle.ggml_backend_reg_count.restype = ctypes.c_size_t
        if handle.ggml_backend_reg_count() == 0:  # ggml skips a backend it cannot load without a word: find why
            ctypes.CDLL(str(min(lib.glob("*ggml-cpu-*"))))
            raise OSError("no CPU backend fits this processor")
    except (OSError, AttributeError) as e:  # spotdiff runs without a VLM; llama_cpp says why if one is asked for
        print(f"spotdiff: llama.cpp's CPU backends in {lib} cannot be loaded ({e}); local vision-language "
              "models will not run", file=sys.stderr)


_offline()
_shipped_models()
_llama_backends()

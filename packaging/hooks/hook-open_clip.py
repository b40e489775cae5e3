"""open_clip: its model configs (JSON) and the BPE vocabulary are data files read at run time.

Its modules import each other statically, so analysis finds them; collect_submodules would import
open_clip, which fails at build time beside the CPU torch (torchvision::nms; spotdiff/models/_torchvision_compat.py
fixes that at run time only).
"""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("open_clip")

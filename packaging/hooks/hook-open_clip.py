"""open_clip: its model configs (JSON) and the BPE vocabulary are data files read at run time."""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules

datas = collect_data_files("open_clip")
hiddenimports = collect_submodules("open_clip", filter=lambda name: not name.startswith("open_clip_train"))

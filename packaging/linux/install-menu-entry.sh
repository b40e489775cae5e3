#!/bin/sh
# Put spotdiff in your desktop menu and spotdiff / spotdiff-gui in ~/.local/bin, from this unpacked
# folder (the .tar.gz build; the .deb does this system-wide). Run it again after moving the folder.
#   ./install-menu-entry.sh            install for this user
#   ./install-menu-entry.sh --remove   take it out again
set -eu
here=$(cd "$(dirname "$0")" && pwd)
apps=${XDG_DATA_HOME:-$HOME/.local/share}/applications
icons=${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps
bin=$HOME/.local/bin
if [ "${1:-}" = "--remove" ]; then
  rm -f "$apps/spotdiff.desktop" "$icons/spotdiff.png" "$bin/spotdiff" "$bin/spotdiff-gui"
  echo "removed spotdiff's menu entry, icon and commands"
  exit 0
fi
mkdir -p "$apps" "$icons" "$bin"
sed "s|^Exec=spotdiff-gui|Exec=\"$here/spotdiff-gui\"|" "$here/share/spotdiff.desktop" > "$apps/spotdiff.desktop"
cp "$here/share/spotdiff.png" "$icons/spotdiff.png"
ln -sf "$here/spotdiff" "$bin/spotdiff"
ln -sf "$here/spotdiff-gui" "$bin/spotdiff-gui"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$apps" || true
echo "spotdiff is in your menu; the commands spotdiff and spotdiff-gui are in $bin"

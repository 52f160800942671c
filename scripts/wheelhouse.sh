#!/bin/sh
# Gather every wheel the hub needs for a Raspberry Pi (aarch64, Python 3.11) into wheelhouse/,
# so a school copies one folder on a USB stick and installs with no network:
#   sudo scripts/install-pi.sh --wheelhouse /media/usb/wheelhouse
# Usage: scripts/wheelhouse.sh [ARCH] [OUT]   (ARCH: aarch64 (default) or x86_64)
# A wheelhouse already in OUT is replaced only once the new one is complete.
set -eu
ARCH=${1:-aarch64}
OUT=${2:-wheelhouse}
PIP=${PIP:-.venv/bin/pip}
SRC=$(cd "$(dirname "$0")/.." && pwd)
case "$ARCH" in
  aarch64|x86_64) ;;
  armv7l|armv6l|armhf|arm)
    echo "$0: the hub needs a 64-bit system; 32-bit ARM ($ARCH) is not supported: install Raspberry Pi OS (64-bit) (docs/INSTALL.md)" >&2
    exit 2 ;;
  *) echo "$0: unknown ARCH $ARCH (aarch64 or x86_64)" >&2; exit 2 ;;
esac
platforms="--platform manylinux2014_$ARCH --platform linux_$ARCH"
v=17
while [ $v -le 36 ]; do  # Bookworm's glibc is 2.36: every manylinux tag up to it
  platforms="$platforms --platform manylinux_2_${v}_$ARCH"
  v=$((v + 1))
done
FINAL=$OUT
OUT=$FINAL.new
rm -rf "$OUT"
mkdir -p "$OUT"
trap 'rm -rf "$OUT"' EXIT
$PIP wheel --quiet --no-deps --wheel-dir "$OUT" "$SRC"
$PIP download --quiet --dest "$OUT" --only-binary=:all: $platforms --python-version 3.11 \
  --implementation cp --abi cp311 --abi abi3 --abi none "$OUT"/classroom_hub-*.whl
$PIP download --quiet --dest "$OUT" --only-binary=:all: --python-version 3.11 pip setuptools wheel
cp "$SRC/scripts/install-pi.sh" "$OUT/"
rm -rf "$FINAL.old"
[ -e "$FINAL" ] && mv "$FINAL" "$FINAL.old"
mv "$OUT" "$FINAL"
rm -rf "$FINAL.old"
trap - EXIT
echo "wheelhouse for $ARCH, Python 3.11: $(ls "$FINAL"/*.whl | wc -l) wheels, $(du -sh "$FINAL" | cut -f1) in $FINAL"

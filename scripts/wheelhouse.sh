#!/bin/sh
# Gather every wheel the hub needs for a Raspberry Pi (aarch64, Python 3.11) into wheelhouse/,
# so a school copies one folder on a USB stick and installs with no network:
#   sudo scripts/install-pi.sh --wheelhouse /media/usb/wheelhouse
# Usage: scripts/wheelhouse.sh [ARCH] [OUT]   (ARCH: aarch64 (default) or x86_64)
set -eu
ARCH=${1:-aarch64}
OUT=${2:-wheelhouse}
PIP=${PIP:-.venv/bin/pip}
SRC=$(cd "$(dirname "$0")/.." && pwd)
platforms="--platform manylinux2014_$ARCH --platform linux_$ARCH"
v=17
while [ $v -le 36 ]; do  # Bookworm's glibc is 2.36: every manylinux tag up to it
  platforms="$platforms --platform manylinux_2_${v}_$ARCH"
  v=$((v + 1))
done
rm -rf "$OUT"
mkdir -p "$OUT"
$PIP wheel --quiet --no-deps --wheel-dir "$OUT" "$SRC"
$PIP download --quiet --dest "$OUT" --only-binary=:all: $platforms --python-version 3.11 \
  --implementation cp --abi cp311 --abi abi3 --abi none "$OUT"/classroom_hub-*.whl
$PIP download --quiet --dest "$OUT" --only-binary=:all: --python-version 3.11 pip setuptools wheel
cp "$SRC/scripts/install-pi.sh" "$OUT/"
echo "wheelhouse for $ARCH, Python 3.11: $(ls "$OUT"/*.whl | wc -l) wheels, $(du -sh "$OUT" | cut -f1) in $OUT"

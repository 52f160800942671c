#!/bin/sh
# Debian packages the tests need: Chromium for the browser tests, PortAudio for sounddevice,
# cage and systemd-analyze so that the kiosk unit verifies as it would on a Pi, and qemu,
# mmdebstrap and e2fsprogs for the Bookworm VM the deploy tests boot (tests/bookworm_vm.py).
# Installs only what is missing; without root or sudo it says what to install and goes on.
set -u
need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
if ! ldconfig -p 2>/dev/null | grep -q 'libportaudio\.so\.2'; then need="$need libportaudio2"; fi
command -v cage >/dev/null 2>&1 || need="$need cage"
command -v systemd-analyze >/dev/null 2>&1 || need="$need systemd"
command -v qemu-system-x86_64 >/dev/null 2>&1 || need="$need qemu-system-x86"
command -v qemu-img >/dev/null 2>&1 || need="$need qemu-utils"
command -v mmdebstrap >/dev/null 2>&1 || need="$need mmdebstrap"
command -v mkfs.ext4 >/dev/null 2>&1 || need="$need e2fsprogs"
command -v hostname >/dev/null 2>&1 || need="$need hostname"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO=none; fi
if [ "$SUDO" = none ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: install these Debian packages for the full test suite:$need (tests that need them are skipped)"
  exit 0
fi
echo "installing Debian packages:$need"
$SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null \
  || echo "warning: could not install$need; tests that need them are skipped"

#!/bin/sh
# Debian packages the tests need: Chromium for the browser tests and npm for axe-core, PortAudio for sounddevice,
# cage and systemd-analyze so that the kiosk unit verifies as it would on a Pi, and qemu,
# mmdebstrap and e2fsprogs for the Bookworm VM the deploy tests boot (tests/bookworm_vm.py).
# With --arm, only what the emulated arm64 and armhf roots need (make test-arm): qemu-user through
# binfmt_misc, mmdebstrap and arch-test. Installs only what is missing; without root or sudo it
# says what to install and goes on.
set -u
need=""
if [ "${1:-}" = "--arm" ]; then
  command -v mmdebstrap >/dev/null 2>&1 || need="$need mmdebstrap"
  command -v arch-test >/dev/null 2>&1 || need="$need arch-test"
  [ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || need="$need qemu-user-static"
  command -v update-binfmts >/dev/null 2>&1 || need="$need binfmt-support"
  ARM=1
fi
if [ -z "${ARM:-}" ]; then
  command -v chromium >/dev/null 2>&1 || need="$need chromium"
  command -v npm >/dev/null 2>&1 || need="$need npm"  # axe-core for the accessibility checks (Makefile)
  # the pages' icons are emoji: without a colour emoji font Chromium draws empty boxes in the screenshots
  [ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need="$need fonts-noto-color-emoji"
  if ! ldconfig -p 2>/dev/null | grep -q 'libportaudio\.so\.2'; then need="$need libportaudio2"; fi
  command -v cage >/dev/null 2>&1 || need="$need cage"
  command -v systemd-analyze >/dev/null 2>&1 || need="$need systemd"
  command -v qemu-system-x86_64 >/dev/null 2>&1 || need="$need qemu-system-x86"
  command -v qemu-img >/dev/null 2>&1 || need="$need qemu-utils"
  command -v mmdebstrap >/dev/null 2>&1 || need="$need mmdebstrap"
  command -v mkfs.ext4 >/dev/null 2>&1 || need="$need e2fsprogs"
  command -v hostname >/dev/null 2>&1 || need="$need hostname"
  command -v ip >/dev/null 2>&1 || need="$need iproute2"  # the room's network in tests/test_install_root.py
fi
# binfmt_misc lets the kernel hand arm programs to qemu-user: mounted and enabled where we may.
binfmt() {
  [ -n "${ARM:-}" ] && [ "$(id -u)" = 0 ] || return 0
  [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  command -v update-binfmts >/dev/null 2>&1 && update-binfmts --enable >/dev/null 2>&1 || true
}
[ -z "$need" ] && { binfmt; exit 0; }
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO=none; fi
if [ "$SUDO" = none ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: install these Debian packages for the full test suite:$need (tests that need them are skipped)"
  exit 0
fi
echo "installing Debian packages:$need"
$SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null \
  || echo "warning: could not install$need; tests that need them are skipped"
binfmt

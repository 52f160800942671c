#!/bin/sh
# Build a Debian 12 (Bookworm) disk image with systemd as PID 1, for the deploy tests and
# bench/deploy.py: the closest thing to a fresh Raspberry Pi OS Bookworm (Desktop) that this
# x86-64 machine can boot (under KVM). It holds what that image holds for us: systemd, udev,
# logind, Python 3.11 with venv, Chromium, plus cage and libportaudio2, which install-pi.sh
# would fetch with apt. The VM then runs with no network at all, so the hub is installed the
# offline way, from a wheelhouse on a second disk standing for the USB stick.
#
#   scripts/bookworm-image.sh OUT_DIR
#
# Writes OUT_DIR/rootfs.img (ext4, raw), OUT_DIR/vmlinuz and OUT_DIR/initrd.img. Packages come
# from this machine's own apt sources (the first Debian .sources or .list file found), so a
# school's or a CI's mirror is used as configured. Needs root, mmdebstrap and e2fsprogs.
set -eu
OUT=${1:?usage: $0 OUT_DIR}
SIZE=${IMAGE_SIZE:-4G}
# A Bookworm system as a Pi has it, and what install-pi.sh installs with apt, read from the script.
INSTALLER=$(dirname "$0")/install-pi.sh
wanted=$(sed -n 's/^\(HUB\|KIOSK\)_PACKAGES="\(.*\)"$/\2/p' "$INSTALLER" | tr '\n' ' ')
[ -n "$wanted" ] || { echo "$0: no HUB_PACKAGES/KIOSK_PACKAGES in $INSTALLER" >&2; exit 2; }
PACKAGES="systemd,systemd-sysv,udev,dbus,libpam-systemd,linux-image-amd64,initramfs-tools,kmod,procps,iproute2,\
qemu-guest-agent,python3,libgl1-mesa-dri,ca-certificates,$(echo $wanted | tr ' ' ',')"

if [ "$(id -u)" != 0 ]; then echo "$0: needs root (mmdebstrap, and files owned by root in the image)" >&2; exit 2; fi
for tool in mmdebstrap mkfs.ext4; do
  command -v $tool >/dev/null 2>&1 || { echo "$0: $tool is missing (apt-get install mmdebstrap e2fsprogs)" >&2; exit 2; }
done
sources=""
for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
  if [ -s "$f" ] && grep -q 'debian' "$f" && ! grep -q 'disabled' "$f"; then sources=$f; break; fi
done
[ -n "$sources" ] || { echo "$0: no Debian apt source on this machine" >&2; exit 2; }

mkdir -p "$OUT"
ROOTFS="$OUT/rootfs.tmp"
rm -rf "$ROOTFS" "$OUT/rootfs.img"
mkdir -p "$ROOTFS"

# The guest: DHCP on its one network card (qemu's user network, reachable only through the ports
# the host forwards), a hostname, the root file system, and no password prompt for anything.
SETUP='
cat > "$1/etc/fstab" <<EOF
/dev/vda / ext4 rw,errors=remount-ro 0 1
EOF
echo classroom > "$1/etc/hostname"
printf "127.0.0.1 localhost\n127.0.1.1 classroom\n" > "$1/etc/hosts"
mkdir -p "$1/etc/systemd/network"
printf "[Match]\nName=en*\n\n[Network]\nDHCP=yes\n" > "$1/etc/systemd/network/20-wired.network"
chroot "$1" systemctl enable systemd-networkd.service
chroot "$1" passwd -d root
'

mmdebstrap --variant=apt --components=main --include="$PACKAGES" \
  --aptopt='APT::Install-Recommends "false"' \
  --customize-hook="$SETUP" \
  bookworm "$ROOTFS" "$sources"

cp -L "$ROOTFS/vmlinuz" "$OUT/vmlinuz"
cp -L "$ROOTFS/initrd.img" "$OUT/initrd.img"
chmod 0644 "$OUT/vmlinuz" "$OUT/initrd.img"
mkfs.ext4 -q -F -L bookworm -d "$ROOTFS" "$OUT/rootfs.img" "$SIZE"
rm -rf "$ROOTFS"
echo "Bookworm image: $OUT/rootfs.img ($SIZE), kernel $(basename "$(readlink -f "$OUT/vmlinuz" 2>/dev/null || echo vmlinuz)")"

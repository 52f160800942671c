#!/bin/sh
# Install Classroom Hub on Raspberry Pi OS Bookworm (or any Debian 12): one command, then reboot.
#
#   sudo scripts/install-pi.sh [--wheelhouse DIR] [--port 8080] [--no-kiosk]
#   sudo scripts/install-pi.sh --uninstall [--purge]
#
# What it does (again and again without harm: it keeps the config, the PIN and the models):
#   Debian packages (python3-venv, libportaudio2, cage, chromium, curl), refreshing apt's package
#   lists first only when one is missing (with all of them there it never touches the network);
#   system users classroom-hub and classroom-kiosk; a venv in /opt/classroom-hub (from the
#   network, or from a wheelhouse folder copied on a USB stick: no network at all); the config in
#   /etc/classroom-hub/hub.toml; models and data in /var/lib/classroom-hub; the teacher's PIN
#   (printed once); the systemd units and the Coral udev rule, enabled and started.
# Without systemd running (an image being prepared, a chroot, a container) the units are only
#   enabled: the hub starts at the next boot. 32-bit ARM (armhf) is refused before any change.
# --prefix DIR installs everything under DIR instead of / and, with --no-root, skips what needs
#   root (packages, users, systemctl, udevadm): that is how the tests run it end to end.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=""
ROOT=1
APT=1
KIOSK=1
WHEELHOUSE=""
VENV=""
PORT=8080
UNINSTALL=0
PURGE=0
PYTHON=${PYTHON:-python3}
# Debian packages (scripts/bookworm-image.sh puts the same ones in the test image). polkitd lets
# the kiosk user's session take the screen: without it cage cannot activate its logind session.
# xwayland: Debian's cage will not start without it (and then hangs instead of exiting), even
# though Chromium is told to speak Wayland itself.
HUB_PACKAGES="python3-venv python3-pip libportaudio2 curl"
KIOSK_PACKAGES="cage chromium polkitd xwayland fonts-dejavu-core"

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=$(cd "$2" && pwd); shift 2 ;;
    --no-root) ROOT=0; APT=0; shift ;;
    --no-apt) APT=0; shift ;;
    --no-kiosk) KIOSK=0; shift ;;
    --wheelhouse) WHEELHOUSE=$(cd "$2" && pwd); shift 2 ;;
    --venv) VENV=$(cd "$2" && pwd); shift 2 ;;  # use an environment that already has the hub (tests)
    --port) PORT=$2; shift 2 ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) sed -n '2,${/^#/!q;p;}' "$0"; exit 0 ;;  # the comment above
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

OPT=$PREFIX/opt/classroom-hub
ETC=$PREFIX/etc/classroom-hub
DATA=$PREFIX/var/lib/classroom-hub
CA=$PREFIX/var/lib/classroom-hub-ca  # the HTTPS certificate authority's key: root's alone (docs/TEACHERS.md)
UNITS=$PREFIX/etc/systemd/system
RULES=$PREFIX/etc/udev/rules.d

say() { printf '[classroom-hub] %s\n' "$*"; }

# 32-bit ARM cannot run the hub: ai-edge-litert has no build for it, nor numpy or OpenCV on PyPI
# (docs/INSTALL.md). Refused before anything changes. dpkg's architecture decides, not the
# kernel's: a Pi 4 running the 32-bit OS has a 64-bit kernel (uname -m: aarch64) under an armhf
# userland, and the userland is what runs Python. Removing is always allowed.
if [ "$UNINSTALL" = 0 ]; then
  arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
  case "$arch" in
    armhf|armel|arm|armv*l)
      echo "Classroom Hub needs the 64-bit Raspberry Pi OS (arm64); this system is 32-bit ($arch). Install 'Raspberry Pi OS (64-bit)' with Raspberry Pi Imager: it runs on every Pi 3, 4, 5 and Zero 2 W (docs/INSTALL.md)." >&2
      exit 2 ;;
  esac
fi

if [ "$ROOT" = 1 ] && [ "$(id -u)" != 0 ]; then
  echo "run as root (sudo $0 ...), or use --prefix DIR --no-root to try it out" >&2
  exit 2
fi

# systemd running as PID 1 (the test of sd_booted(3)); not in an image being prepared, a chroot or
# a container. There systemctl still enables units (it works on the files), but reloading,
# starting and udevadm need daemons that are not running.
BOOTED=0
[ -d /run/systemd/system ] && BOOTED=1
UNITS_ALL="classroom-kiosk.service classroom-hub.service classroom-hub-tls.timer"

if [ "$UNINSTALL" = 1 ]; then
  if [ "$ROOT" = 1 ]; then
    if [ "$BOOTED" = 1 ]; then
      systemctl disable --now $UNITS_ALL 2>/dev/null || true
    else
      systemctl disable $UNITS_ALL 2>/dev/null || true
    fi
  fi
  rm -f "$UNITS/classroom-hub.service" "$UNITS/classroom-kiosk.service" "$RULES/60-coral-edgetpu.rules" \
    "$UNITS/classroom-hub-tls.service" "$UNITS/classroom-hub-tls.timer"
  rm -rf "$OPT"
  if [ "$PURGE" = 1 ]; then
    rm -rf "$ETC" "$DATA" "$CA"
    say "removed, with the config, the models, the PIN and the certificates"
  else
    say "removed; kept $ETC, $DATA and $CA (models, PIN, certificates); --purge removes them too"
  fi
  if [ "$ROOT" = 1 ]; then
    if [ "$BOOTED" = 1 ]; then
      systemctl daemon-reload
      udevadm control --reload-rules 2>/dev/null || true
    fi
    [ "$PURGE" = 1 ] && { userdel classroom-hub 2>/dev/null || true; userdel classroom-kiosk 2>/dev/null || true; }
  fi
  exit 0
fi

if [ "$APT" = 1 ]; then
  wanted=$HUB_PACKAGES
  if [ "$KIOSK" = 1 ]; then wanted="$wanted $KIOSK_PACKAGES"; fi
  # dpkg's own database says what is there: with everything installed (the offline USB-stick
  # install) apt is not run at all, so nothing reaches for the network.
  missing=""
  for package in $wanted; do
    case "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" in
      *" installed") ;;
      *) missing="$missing $package" ;;
    esac
  done
  missing=${missing# }
  if [ -z "$missing" ]; then
    say "Debian packages: all there already"
  else
    # A fresh Bookworm image has empty package lists, and then apt-get install finds nothing. A
    # failed refresh (no network, or one broken source among several) stops only if the install
    # then fails too: apt may still have what it needs.
    say "installing Debian packages: $missing (refreshing the package lists first)"
    refreshed=$(apt-get update -q 2>&1) || say "could not refresh every package list; trying with what apt has"
    if ! installed=$(DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $wanted 2>&1); then
      printf '%s\n%s\n' "$refreshed" "$installed" | grep -E '^(E|W): ' | tail -n 3 >&2 || true
      echo "[classroom-hub] missing Debian packages: $missing, and apt could not get them (is there a network?): connect this machine to the network and run this again, or start from an image that has them (docs/INSTALL.md)" >&2
      exit 1
    fi
  fi
fi

if [ "$ROOT" = 1 ]; then
  id classroom-hub >/dev/null 2>&1 || useradd --system --home-dir /var/lib/classroom-hub --no-create-home \
    --shell /usr/sbin/nologin --groups plugdev,audio classroom-hub
  if [ "$KIOSK" = 1 ]; then
    id classroom-kiosk >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/classroom-kiosk \
      --shell /usr/sbin/nologin --groups video,render,input classroom-kiosk
  fi
fi

mkdir -p "$OPT" "$ETC" "$DATA/models" "$UNITS" "$RULES" "$CA"
chmod 0700 "$CA"

say "creating the Python environment in $OPT/venv"
if [ -n "$VENV" ]; then
  ln -sfn "$VENV" "$OPT/venv"
else
  [ -x "$OPT/venv/bin/python" ] || "$PYTHON" -m venv "$OPT/venv"
fi
if [ -n "$VENV" ]; then
  :
elif [ -n "$WHEELHOUSE" ]; then
  "$OPT/venv/bin/pip" install --quiet --no-index --find-links "$WHEELHOUSE" classroom-hub
else
  "$OPT/venv/bin/pip" install --quiet --upgrade "$SRC"
fi

rm -rf "$OPT/docs" && cp -r "$SRC/docs" "$OPT/docs"

for model in "$SRC"/models/*/; do
  name=$(basename "$model")
  [ -e "$DATA/models/$name" ] || { cp -r "$model" "$DATA/models/$name"; say "added the bundled model $name"; }
done

if [ ! -f "$ETC/hub.toml" ]; then
  cat > "$ETC/hub.toml" <<EOF
# Classroom Hub settings; every key is explained in docs/CONFIG.md. Restart after a change:
#   sudo systemctl restart classroom-hub
# and, after a change to [server], the front screen too: sudo systemctl restart classroom-kiosk
[server]
port = $PORT
# tls = "self-signed"   # HTTPS for the camera and microphone: see docs/TEACHERS.md

[models]
dir = "$DATA/models"

[classroom]
data_dir = "$DATA"
EOF
  say "wrote $ETC/hub.toml"
else
  say "kept the existing $ETC/hub.toml"
fi

"$OPT/venv/bin/classroom-hub" pin --config "$ETC/hub.toml"
# The config decides the port (a kept hub.toml may differ from --port); the kiosk must follow it.
PORT=$("$OPT/venv/bin/python" -c 'import sys; from hub.config import load_config; print(load_config(sys.argv[1]).server.port)' "$ETC/hub.toml")

# The kiosk draws with the GPU. A virtual machine's GPU has only software GL, on which Debian's
# cage crashes (seen under qemu): there, wlroots' own software renderer draws instead.
if [ "$KIOSK" = 1 ] && [ ! -f "$ETC/kiosk.env" ]; then
  {
    echo "# Environment for classroom-kiosk.service (cage and Chromium); see docs/INSTALL.md."
    if command -v systemd-detect-virt >/dev/null 2>&1 && systemd-detect-virt -q --vm; then
      echo "# This is a virtual machine ($(systemd-detect-virt --vm)): draw without the GPU."
      echo "WLR_RENDERER=pixman"
    else
      echo "# WLR_RENDERER=pixman   # uncomment if the screen stays black and cage crashes (journalctl -b | grep cage)"
    fi
  } > "$ETC/kiosk.env"
  say "wrote $ETC/kiosk.env"
fi

for unit in classroom-hub.service classroom-hub-tls.service classroom-hub-tls.timer; do
  sed "s#@PREFIX@#$PREFIX#g" "$SRC/systemd/$unit" > "$UNITS/$unit"
done
if [ "$KIOSK" = 1 ]; then
  sed "s#@PREFIX@#$PREFIX#g; s#@PORT@#$PORT#g" "$SRC/systemd/classroom-kiosk.service" \
    > "$UNITS/classroom-kiosk.service"
fi
cp "$SRC/systemd/60-coral-edgetpu.rules" "$RULES/60-coral-edgetpu.rules"

if [ "$ROOT" = 1 ]; then
  # All but tls/: with HTTPS, root's `classroom-hub tls renew` owns that folder, so that the hub
  # reads its certificate but cannot change it (systemd/classroom-hub.service, ExecStartPre).
  find "$DATA" -path "$DATA/tls" -prune -o -exec chown -h classroom-hub:classroom-hub {} +
  chmod 0750 "$DATA"
fi

if [ "$ROOT" = 1 ] && [ "$BOOTED" = 0 ]; then
  if ! command -v systemctl >/dev/null 2>&1; then
    say "installed, but systemd is not installed here, so there are no services: start the hub with"
    say "  $OPT/venv/bin/classroom-hub serve --config $ETC/hub.toml"
    exit 0
  fi
  systemctl enable classroom-hub.service classroom-hub-tls.timer
  if [ "$KIOSK" = 1 ]; then
    systemctl enable classroom-kiosk.service
    systemctl set-default graphical.target >/dev/null
  fi
  say "systemd is not running here (an image being prepared, a chroot or a container): the hub is installed and its services start at the next boot"
  say "then check it with: classroom-hub doctor (or: journalctl -u classroom-hub)"
elif [ "$ROOT" = 1 ]; then
  udevadm control --reload-rules && udevadm trigger --subsystem-match=usb || true
  systemctl daemon-reload
  systemctl enable --now classroom-hub.service
  systemctl enable --now classroom-hub-tls.timer
  if [ "$KIOSK" = 1 ]; then
    systemctl enable classroom-kiosk.service
    systemctl set-default graphical.target >/dev/null
  fi
  say "installed. Check it with: classroom-hub doctor (or: journalctl -u classroom-hub)"
  if [ "$KIOSK" = 1 ]; then  # (an `&&` here would be the script's last command: exit 1 with --no-kiosk)
    say "reboot once: the screen then shows the class code (the hub's /kiosk page on port $PORT)"
  fi
else
  say "installed under $PREFIX (no root: packages, users and services were skipped)"
fi

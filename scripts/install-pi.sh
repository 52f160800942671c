#!/bin/sh
# Install Classroom Hub on Raspberry Pi OS Bookworm (or any Debian 12): one command, then reboot.
#
#   sudo scripts/install-pi.sh [--wheelhouse DIR] [--port 8080] [--no-kiosk] [--name NAME]
#                              [--hotspot WIFI-NAME [--hotspot-password PASSWORD]]
#   sudo scripts/install-pi.sh --uninstall [--purge]
#   scripts/install-pi.sh --dry-run [--name NAME] [--hotspot WIFI-NAME ...]   (shows the network part)
#
# What it does (again and again without harm: it keeps the config, the PIN and the models):
#   Debian packages (python3-venv, libportaudio2, cage, chromium, curl), refreshing apt's package
#   lists first only when one is missing (with all of them there it never touches the network);
#   system users classroom-hub and classroom-kiosk; a venv in /opt/classroom-hub (from the
#   network, or from a wheelhouse folder copied on a USB stick: no network at all); the config in
#   /etc/classroom-hub/hub.toml; models and data in /var/lib/classroom-hub; the teacher's PIN
#   (printed once); the systemd units and the Coral udev rule, enabled and started.
# The network (docs/INSTALL.md, "Getting tablets onto the hub"): tablets find the hub as
#   NAME.local (mDNS, avahi-daemon): a Pi still called raspberrypi (or debian) is renamed
#   classroom-hub, --name NAME renames it anyway, any other name is kept; the hub is announced as a
#   web server (/etc/avahi/services/classroom-hub.service). --hotspot WIFI-NAME makes the Pi's Wi-Fi
#   the class's own network with NetworkManager (WPA2, a password made up unless given, printed at
#   the end and kept for the teacher in /etc/classroom-hub/hotspot.txt, root's only). --dry-run
#   prints those commands and changes nothing. --uninstall takes all of it back.
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
HTTPS_PORT=8443  # read from the config once it exists (the default, for --dry-run)
UNINSTALL=0
PURGE=0
NAME=classroom-hub
NAME_GIVEN=0
HOTSPOT=""
HOTSPOT_GIVEN=0
HOTSPOT_PASSWORD=""
DRY_RUN=0
PYTHON=${PYTHON:-python3}
# Debian packages (scripts/bookworm-image.sh puts the same ones in the test image). polkitd lets
# the kiosk user's session take the screen: without it cage cannot activate its logind session.
# xwayland: Debian's cage will not start without it (and then hangs instead of exiting), even
# though Chromium is told to speak Wayland itself. avahi-daemon: tablets find the hub as
# <name>.local (mDNS); Raspberry Pi OS has it already.
HUB_PACKAGES="python3-venv python3-pip libportaudio2 curl avahi-daemon"
KIOSK_PACKAGES="cage chromium polkitd xwayland fonts-dejavu-core"
HOTSPOT_PACKAGES="dnsmasq-base"

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
    --name) NAME=$2; NAME_GIVEN=1; shift 2 ;;
    --hotspot) HOTSPOT=$2; HOTSPOT_GIVEN=1; shift 2 ;;
    --hotspot-password) HOTSPOT_PASSWORD=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
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
refuse() { echo "[classroom-hub] $*" >&2; exit 2; }

# The network part's names and files (docs/INSTALL.md, "Getting tablets onto the hub").
HOTSPOT_CON=classroom-hub-hotspot  # NetworkManager's name for it: a re-run replaces it, --uninstall deletes it
NM_KEYFILE=$PREFIX/etc/NetworkManager/system-connections/$HOTSPOT_CON.nmconnection
HOTSPOT_FILE=$ETC/hotspot.txt      # the Wi-Fi name and password, for the teacher (root's only)
HOSTNAME_STATE=$ETC/hostname.installer  # the host name before and after the install, for --uninstall
AVAHI_SERVICE=$PREFIX/etc/avahi/services/classroom-hub.service

# Checked before anything changes, also for --dry-run. An SSID is 1 to 32 bytes (IEEE 802.11),
# counted as bytes: "Année 4" is 8. A WPA2 passphrase is 8 to 63 printable ASCII characters.
# A host name is one DNS label: what <name>.local and the hub's certificate can carry.
NAME=$(printf '%s' "$NAME" | LC_ALL=C tr '[:upper:]' '[:lower:]')
case "$NAME" in
  ""|-*|*-|*[!a-z0-9-]*) refuse "--name $NAME: a host name is letters, digits and '-' (not first or last), like classroom-7" ;;
esac
[ ${#NAME} -le 63 ] || refuse "--name: at most 63 characters"
if [ "$HOTSPOT_GIVEN" = 1 ]; then
  ssid_bytes=$(printf '%s' "$HOTSPOT" | LC_ALL=C wc -c)
  if [ "$ssid_bytes" -lt 1 ] || [ "$ssid_bytes" -gt 32 ]; then
    refuse "--hotspot: a Wi-Fi name is 1 to 32 bytes (letters like é count 2); \"$HOTSPOT\" has $ssid_bytes"
  fi
  case "$HOTSPOT" in *[[:cntrl:]]*) refuse "--hotspot: the Wi-Fi name has a control character" ;; esac
fi
if [ -n "$HOTSPOT_PASSWORD" ]; then
  [ "$HOTSPOT_GIVEN" = 1 ] || refuse "--hotspot-password goes with --hotspot WIFI-NAME"
  length=$(printf '%s' "$HOTSPOT_PASSWORD" | LC_ALL=C wc -c)
  if [ "$length" -lt 8 ] || [ "$length" -gt 63 ]; then
    refuse "--hotspot-password: a Wi-Fi password (WPA2) is 8 to 63 characters; this one has $length"
  fi
  case "$HOTSPOT_PASSWORD" in *[!\ -~]*) refuse "--hotspot-password: only plain letters, digits, spaces and ASCII signs (no accents)" ;; esac
fi

# One command line, as a person would type it again (each word quoted when it needs it).
quoted() {
  for word in "$@"; do
    case "$word" in
      ""|*[!A-Za-z0-9_./:=,+@%-]*) printf "'%s' " "$(printf '%s' "$word" | sed "s/'/'\\\\''/g")" ;;
      *) printf '%s ' "$word" ;;
    esac
  done | sed 's/ $//'
  echo
}

# A password children's teachers can read out and type: 12 letters and digits without look-alikes
# (no 0/o, 1/l/i), in three groups.
new_password() {
  p=$(LC_ALL=C tr -dc 'abcdefghjkmnpqrstuvwxyz23456789' < /dev/urandom | head -c 12)
  printf '%s-%s-%s\n' "$(echo "$p" | cut -c1-4)" "$(echo "$p" | cut -c5-8)" "$(echo "$p" | cut -c9-12)"
}

# The hotspot, as NetworkManager (Raspberry Pi OS Bookworm's network manager) makes it: an access
# point (mode ap) on 2.4 GHz channel 6 (band bg: every tablet, old ones too, has 2.4 GHz; 5 GHz
# channels need the Wi-Fi country set and are not on older tablets), WPA2 only (rsn, ccmp), and
# ipv4.method shared: NetworkManager gives the tablets addresses (10.42.0.x, the Pi is 10.42.0.1)
# with its own dnsmasq. No interface name: the Pi's one Wi-Fi device, whatever it is called.
# autoconnect-priority: at boot it wins over a Wi-Fi network the Pi once joined.
# $1: "run" (NetworkManager running), "offline" (nmcli --offline writes the connection's file to
# stdout: an image being prepared) or "show" (--dry-run: the command line); $2: the password.
nmcli_add() {
  how=$1
  psk=$2
  set -- connection add type wifi con-name "$HOTSPOT_CON" ssid "$HOTSPOT" \
    connection.autoconnect yes connection.autoconnect-priority 100 \
    802-11-wireless.mode ap 802-11-wireless.band bg 802-11-wireless.channel 6 \
    wifi-sec.key-mgmt wpa-psk wifi-sec.proto rsn wifi-sec.pairwise ccmp wifi-sec.group ccmp \
    wifi-sec.psk "$psk" ipv4.method shared ipv6.method disabled
  case "$how" in
    run) nmcli "$@" ;;
    offline) nmcli --offline "$@" ;;
    show) quoted nmcli "$@" ;;
  esac
}

warn() { echo "[classroom-hub] $*" >&2; }

# The mDNS announcement of the hub's web server(s), for /etc/avahi/services.
avahi_service() {
  if [ "$HTTPS_PORT" = 0 ]; then
    sed '/<!-- https:/,/<\/service>/d' "$SRC/systemd/classroom-hub-avahi.xml"
  else
    sed "s#@HTTPS_PORT@#$HTTPS_PORT#g" "$SRC/systemd/classroom-hub-avahi.xml"
  fi | sed "s#@PORT@#$PORT#g"
}

# The machine's name, which avahi-daemon publishes as <name>.local on every network it is on,
# following address changes by itself; the hub already answers to it (hub/web/hosts.py) and puts
# it in its certificate (hub/tls.py). /etc/hosts keeps the Debian line 127.0.1.1 <name>. Without
# systemd running (an image) only the files change: the name is taken at the next boot.
rename_to() {
  if [ -f "$PREFIX/etc/hosts" ]; then
    if grep -q '^127\.0\.1\.1[[:space:]]' "$PREFIX/etc/hosts"; then
      sed -i "s/^127\.0\.1\.1[[:space:]].*/127.0.1.1\t$1/" "$PREFIX/etc/hosts"
    else
      printf '127.0.1.1\t%s\n' "$1" >> "$PREFIX/etc/hosts"
    fi
  fi
  if [ "$BOOTED" = 1 ] && command -v hostnamectl >/dev/null 2>&1; then
    hostnamectl set-hostname "$1"
    systemctl try-restart avahi-daemon.service 2>/dev/null || true  # it announces the new name at once
  else
    printf '%s\n' "$1" > "$PREFIX/etc/hostname"
  fi
}

# A Pi still called what its image called it is renamed NAME; --name renames any; another name a
# school gave is kept. The first name is remembered for --uninstall.
host_name_now() { cat "$PREFIX/etc/hostname" 2>/dev/null || true; }
rename_wanted() {
  case "$(host_name_now)" in raspberrypi|debian|localhost|"") return 0 ;; esac
  [ "$NAME_GIVEN" = 1 ]
}
set_host_name() {
  current=$(host_name_now)
  HUB_NAME=$current
  if [ "$current" = "$NAME" ]; then
    say "tablets find this hub as $NAME.local (mDNS)"
  elif rename_wanted; then
    before=$current
    [ -f "$HOSTNAME_STATE" ] && before=$(sed -n 's/^before=//p' "$HOSTNAME_STATE")
    printf 'before=%s\nset=%s\n' "$before" "$NAME" > "$HOSTNAME_STATE"
    rename_to "$NAME"
    HUB_NAME=$NAME
    # A running hub learnt its names at its start (hub/web/hosts.py): it would refuse the new one.
    if [ "$BOOTED" = 1 ]; then systemctl try-restart classroom-hub.service 2>/dev/null || true; fi
    say "renamed this machine from ${current:-(no name)} to $NAME: tablets find the hub as $NAME.local (mDNS)"
  else
    say "kept this machine's name $current: tablets find the hub as $current.local (mDNS); --name NAME renames it"
  fi
}
restore_host_name() {
  [ -f "$HOSTNAME_STATE" ] || return 0
  before=$(sed -n 's/^before=//p' "$HOSTNAME_STATE")
  ours=$(sed -n 's/^set=//p' "$HOSTNAME_STATE")
  if [ -n "$before" ] && [ "$(host_name_now)" = "$ours" ]; then
    rename_to "$before"
    say "gave this machine its name back: $before"
  fi
  rm -f "$HOSTNAME_STATE"
}

# The hotspot. Whatever stops it (no nmcli, no Wi-Fi), the rest of the install goes on: the hub
# works just as well on the school's Wi-Fi or a travel router. A re-run keeps the saved password
# unless another is given: the tablets remember it.
HOTSPOT_NOTE=""
make_hotspot() {
  psk=$HOTSPOT_PASSWORD
  [ -n "$psk" ] || psk=$(sed -n 's/^Password: //p' "$HOTSPOT_FILE" 2>/dev/null || true)
  [ -n "$psk" ] || psk=$(new_password)
  how="docs/INSTALL.md, \"The Pi as the class's own hotspot\""
  if ! command -v nmcli >/dev/null 2>&1; then
    warn "no hotspot: NetworkManager's nmcli is not installed (Raspberry Pi OS Bookworm has it): sudo apt install network-manager, then run this again with --hotspot; or use the school's Wi-Fi or a travel router ($how). The hub itself is installed."
    return 0
  fi
  if [ "$BOOTED" = 1 ]; then
    if [ "$(nmcli -t -f RUNNING general 2>/dev/null)" != running ]; then
      warn "no hotspot: NetworkManager is not running (this system uses another network manager): see $how. The hub itself is installed."
      return 0
    fi
    wifi=$(nmcli -t -f TYPE,DEVICE,STATE,CONNECTION device 2>/dev/null | sed -n 's/^wifi://p' | head -n 1)
    if [ -z "$wifi" ]; then
      warn "no hotspot: this machine has no Wi-Fi device that NetworkManager sees (a Pi without Wi-Fi, or a USB Wi-Fi stick unplugged); a travel router does the same job ($how). The hub itself is installed."
      return 0
    fi
    nmcli connection delete "$HOTSPOT_CON" >/dev/null 2>&1 || true
    if ! made=$(nmcli_add run "$psk" 2>&1); then
      warn "no hotspot: NetworkManager refused it: $made ($how). The hub itself is installed."
      return 0
    fi
    # Starting it takes the Pi's Wi-Fi off any network it is on: an install over SSH through
    # that Wi-Fi would be cut. Then it starts at the next boot (autoconnect-priority) instead.
    case "$wifi" in
      *:connected:"$HOTSPOT_CON") HOTSPOT_START="is on (again)"; nmcli connection up "$HOTSPOT_CON" >/dev/null 2>&1 || true ;;
      *:connected:*) HOTSPOT_START="starts at the next reboot (the Wi-Fi is on another network now; starting it would cut that)" ;;
      *) if nmcli connection up "$HOTSPOT_CON" >/dev/null 2>&1; then HOTSPOT_START="is on"; else
           HOTSPOT_START="is saved but did not start: is the Wi-Fi country set (sudo raspi-config, Localisation, WLAN Country) and the radio on (rfkill list)?"; fi ;;
    esac
  else
    mkdir -p "$(dirname "$NM_KEYFILE")"
    if ! (umask 077 && nmcli_add offline "$psk" > "$NM_KEYFILE.new"); then
      rm -f "$NM_KEYFILE.new"
      warn "no hotspot: nmcli could not write it ($how). The hub itself is installed."
      return 0
    fi
    chmod 0600 "$NM_KEYFILE.new" && mv "$NM_KEYFILE.new" "$NM_KEYFILE"
    HOTSPOT_START="starts when this machine boots"
  fi
  (umask 077 && cat > "$HOTSPOT_FILE" <<EOF
The class's Wi-Fi: the Raspberry Pi's own hotspot (made by scripts/install-pi.sh --hotspot).
Wi-Fi name: $HOTSPOT
Password: $psk
On the tablets, join this Wi-Fi, then open http://$HUB_NAME.local:$PORT/ or http://10.42.0.1:$PORT/
EOF
  )
  HOTSPOT_NOTE="the class's Wi-Fi \"$HOTSPOT\", password $psk, $HOTSPOT_START; saved for the teacher in $HOTSPOT_FILE (sudo cat $HOTSPOT_FILE)"
}

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

# --dry-run: the network part shown, nothing changed (no root needed).
if [ "$DRY_RUN" = 1 ]; then
  say "dry run: the network part of the install; nothing is changed (the rest: docs/INSTALL.md)"
  if rename_wanted && [ "$(host_name_now)" != "$NAME" ]; then
    say "the machine's name, now ${PREFIX:-}/etc/hostname = $(host_name_now), becomes $NAME (127.0.1.1 in /etc/hosts too):"
    quoted hostnamectl set-hostname "$NAME"
  else
    NAME=$(host_name_now)
    say "the machine's name stays $NAME"
  fi
  say "tablets then open http://$NAME.local:$PORT/ (mDNS); the hub is announced as a web server in $AVAHI_SERVICE:"
  avahi_service
  if [ "$HOTSPOT_GIVEN" = 1 ]; then
    say "the hotspot (without --hotspot-password: the saved password, or a new one):"
    quoted nmcli connection delete "$HOTSPOT_CON"
    nmcli_add show "${HOTSPOT_PASSWORD:-<new password>}"
    quoted nmcli connection up "$HOTSPOT_CON"
  fi
  exit 0
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
  rm -f "$AVAHI_SERVICE"
  if [ "$ROOT" = 1 ]; then
    if [ "$BOOTED" = 1 ] && command -v nmcli >/dev/null 2>&1 && nmcli connection delete "$HOTSPOT_CON" >/dev/null 2>&1; then
      say "removed the class's hotspot"
    elif [ -f "$NM_KEYFILE" ]; then
      rm -f "$NM_KEYFILE"
      say "removed the class's hotspot"
    fi
    rm -f "$HOTSPOT_FILE"
    restore_host_name
  fi
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
  # NetworkManager's shared mode gives tablets their addresses with dnsmasq (Raspberry Pi OS has it)
  if [ "$HOTSPOT_GIVEN" = 1 ]; then wanted="$wanted $HOTSPOT_PACKAGES"; fi
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
# HTTPS_PORT: for the mDNS announcement (0: no HTTPS).
PORTS=$("$OPT/venv/bin/python" -c 'import sys; from hub.config import load_config; s = load_config(sys.argv[1]).server; print(s.port, s.https_port)' "$ETC/hub.toml")
PORT=${PORTS% *}
HTTPS_PORT=${PORTS#* }

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

# The network: the hub announced over mDNS (avahi reads every file in that folder), the machine's
# name, and the hotspot when asked for.
mkdir -p "$(dirname "$AVAHI_SERVICE")"
avahi_service > "$AVAHI_SERVICE"
HUB_NAME=$(host_name_now)
if [ "$ROOT" = 1 ]; then
  set_host_name
  # (--no-apt on a system without it: the rest works; tablets then use the address)
  [ -x /usr/sbin/avahi-daemon ] || warn "avahi-daemon is not installed, so no .local name: sudo apt install avahi-daemon"
  if [ "$HOTSPOT_GIVEN" = 1 ]; then make_hotspot; fi
elif [ "$HOTSPOT_GIVEN" = 1 ]; then
  say "--no-root: no hotspot and no new name (they need root)"
fi

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
    if [ -n "$HOTSPOT_NOTE" ]; then say "$HOTSPOT_NOTE"; fi
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
if [ -n "$HOTSPOT_NOTE" ]; then
  say "$HOTSPOT_NOTE"
fi

"""The addresses tablets can reach this hub at: its own network interfaces, never loopback.

The kiosk runs on the hub itself and opens http://127.0.0.1:8080/kiosk, so the address in its
request is no use to a tablet, and on Debian the hostname resolves to 127.0.1.1. The join
address shown on the kiosk (and the URLs printed at start) come from the interfaces instead:
the one with the default route first, then the others (a Pi acting as the room's access point
has no default route). Nothing is sent anywhere to find them.
"""
from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from pathlib import Path

SIOCGIFADDR = 0x8915
VIRTUAL_PREFIXES = ("docker", "veth", "virbr", "br-", "lxc", "tun", "tap")


def interface_addresses() -> dict[str, str]:
    """{interface: IPv4 address} for every interface that has one, loopback excluded."""
    found: dict[str, str] = {}
    for _, name in socket.if_nameindex():
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                reply = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
        except OSError:  # down, or no IPv4 address
            continue
        address = socket.inet_ntoa(reply[20:24])
        if not ipaddress.ip_address(address).is_loopback:
            found[name] = address
    return found


def default_route_interface(routes: Path = Path("/proc/net/route")) -> str | None:
    try:
        lines = routes.read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 1 and fields[1] == "00000000":
            return fields[0]
    return None


def lan_addresses() -> list[str]:
    """The hub's reachable IPv4 addresses, the most likely one first."""
    found = interface_addresses()
    first = default_route_interface()
    names = sorted(found, key=lambda n: (n != first, n.startswith(VIRTUAL_PREFIXES), n))
    return [found[n] for n in names]


def is_loopback(host: str) -> bool:
    """True for 127.x.x.x, ::1 and localhost (a host as it appears in a URL, without the port)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


"""The home's link signal: Wi-Fi from /proc/net/wireless, the uplink's interface from
/proc/net/route, plain good/poor verdicts for the installer's survey.

Parsing and verdicts are pure (text in, values out); `read_link` is the only IO and reads
two small procfs files (paths injectable, so tests feed recorded contents).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WIRELESS = Path("/proc/net/wireless")
ROUTE = Path("/proc/net/route")

# Verdict thresholds. Wi-Fi: -67 dBm is the usual minimum for reliable real-time traffic
# (Cisco/Apple voice-over-WLAN design guides). Cellular: -93 dBm is CSQ 10, the level below
# which modem vendors (Quectel, SIMCom) call the signal marginal for SMS and voice. BLE:
# below -85 dBm adverts start to be missed at the usual 1-2 s advertising interval
# (Bluetooth SIG range guidance); -80 dBm leaves a margin for a closed door.
# Broker round trip: an alarm should reach the centre within a second; 500 ms for one
# PUBACK leaves room for the retries of a weak link.
WIFI_GOOD_DBM = -67
CELL_GOOD_DBM = -93
BLE_GOOD_DBM = -80
BROKER_GOOD_S = 0.5


@dataclass(frozen=True)
class WifiSignal:
    """One wireless interface's link as the kernel reports it."""

    interface: str
    quality: float  # link quality, driver units (usually out of 70)
    level_dbm: int | None  # None when the driver reports no level


@dataclass(frozen=True)
class LinkSignal:
    """What the heartbeat and the survey say about the hub's own link."""

    uplink: str  # "wifi", "ethernet", "cellular" or "none"
    wifi: WifiSignal | None


def parse_wireless(text: str) -> list[WifiSignal]:
    """/proc/net/wireless -> one WifiSignal per interface (header lines skipped)."""
    out: list[WifiSignal] = []
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or len(fields) < 3:
            continue
        try:
            quality = float(fields[1].rstrip("."))
            level = float(fields[2].rstrip("."))
        except ValueError:
            continue
        # Drivers give dBm as a negative number; old ones use 256-offset unsigned values,
        # and 0 means "no level".
        if level > 63:
            level -= 256
        out.append(WifiSignal(name.strip(), quality, round(level) if level < 0 else None))
    return out


def default_interface(route_text: str) -> str | None:
    """/proc/net/route -> the interface of the default route (destination 00000000)."""
    for line in route_text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[1] == "00000000":
            return fields[0]
    return None


def link_signal(wireless_text: str, route_text: str) -> LinkSignal:
    """The uplink's kind and the Wi-Fi signal (of the default route's interface if it is
    wireless, else of the first wireless interface)."""
    wifis = parse_wireless(wireless_text)
    iface = default_interface(route_text)
    by_name = {w.interface: w for w in wifis}
    if iface is None:
        uplink = "none"
    elif iface in by_name:
        uplink = "wifi"
    elif iface.startswith(("wwan", "ppp", "usb", "rmnet")):
        uplink = "cellular"
    else:
        uplink = "ethernet"
    wifi = by_name.get(iface or "") or (wifis[0] if wifis else None)
    return LinkSignal(uplink, wifi)


def read_link(wireless: Path = WIRELESS, route: Path = ROUTE) -> LinkSignal:
    """Read both procfs files (blocking, but tiny: call through asyncio.to_thread)."""

    def text(path: Path) -> str:
        try:
            return path.read_text(encoding="ascii", errors="replace")
        except OSError:
            return ""

    return link_signal(text(wireless), text(route))


def good_wifi(level_dbm: int | None) -> bool | None:
    """True good, False poor, None unknown."""
    return None if level_dbm is None else level_dbm >= WIFI_GOOD_DBM


def good_cell(rssi_dbm: int | None) -> bool | None:
    """True good, False poor, None unknown."""
    return None if rssi_dbm is None else rssi_dbm >= CELL_GOOD_DBM


def good_ble(rssi_dbm: int | None) -> bool | None:
    """True good, False poor, None unknown."""
    return None if rssi_dbm is None else rssi_dbm >= BLE_GOOD_DBM


def good_round_trip(seconds: float | None) -> bool | None:
    """True good, False poor (slow or no answer: None seconds counts as poor? no: unknown)."""
    return None if seconds is None else seconds <= BROKER_GOOD_S


__all__ = [
    "LinkSignal",
    "WifiSignal",
    "default_interface",
    "good_ble",
    "good_cell",
    "good_round_trip",
    "good_wifi",
    "link_signal",
    "parse_wireless",
    "read_link",
]

"""RFLink 433 MHz gateway lines -> Reading (pure: no serial, no asyncio).

Parsing reuses `rflink.parser.decode_packet` (the parser Home Assistant's rflink
integration uses; importing it costs about 1.6 MB resident, measured with VmRSS).
This module only maps its output onto a `Reading` and translates its errors.

The kind is a best guess from the line: RFLink lines do not say what a switch-type
device *is* (a door contact and a panic pendant both send `CMD=ON`). Fields that are
unambiguous (`SMOKEALERT`, `PIR`) give `smoke`/`motion`; any other `CMD` line gives
`switch`, and the registry supplies the real kind of a paired device
(`door`, `gas`, `water`, `button`, ...), which overrides this guess.

The on/off fact is `Reading.state`, from the line's own field: `SMOKEALERT=ON/OFF`,
`PIR=ON/OFF`, or `CMD=ON|ALLON / OFF|ALLOFF` (the contact's closed/open, a detector's
alarm/clear, a pendant's press). Any other line (a thermometer, `BAT=LOW` alone, a
`CMD=UP`) says nothing: state None.

The device key is `rflink:<protocol>:<id>[:<switch>]` in lower case, the spelling
hub.sensors.keys makes of whatever case a person types (the gateway prints `Eurodomest`,
the `rflink` parser lower-cases the id and switch).
"""

from __future__ import annotations

from typing import Any

from rflink.parser import decode_packet, valid_packet

from hub.errors import DecodeError
from hub.reading import Reading, State

PROTOCOL = "rflink"
# Longest line the gateway sends is well under this (RFLink firmware buffers 128 bytes).
MAX_LINE = 256
# Gateway-only replies (banner, PONG, OK, debug): no device behind them.
_NOT_DEVICE = frozenset({"unknown", "debug"})
_KIND_FIELDS = (("smokealert", "smoke"), ("pir", "motion"))
# The field that carries the on/off fact, most specific first, and its words.
_STATE_FIELDS = ("smokealert", "pir", "command")
_STATE_WORDS = {"on": State.ALARM, "allon": State.ALARM, "off": State.CLEAR, "alloff": State.CLEAR}


def decode(line: bytes | str) -> Reading:
    """One RFLink line (with or without CR/LF) -> Reading, or DecodeError."""
    if isinstance(line, bytes):
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError as exc:
            raise DecodeError("rflink: line is not ASCII") from exc
    else:
        text = line
    text = text.strip("\r\n")
    if len(text) > MAX_LINE:
        raise DecodeError("rflink: line too long")
    if not text.startswith("20;") or not valid_packet(text):
        raise DecodeError("rflink: not a gateway packet")
    try:
        fields: dict[str, Any] = dict(decode_packet(text))
    except Exception as exc:  # third-party parser: translate anything at the boundary
        raise DecodeError(f"rflink: unparsable packet ({type(exc).__name__})") from exc
    parts = text.split(";")
    name = parts[2] if len(parts) > 2 else ""
    if fields.get("protocol") in _NOT_DEVICE or "id" not in fields or not name:
        raise DecodeError("rflink: not a device packet")
    device_id = str(fields.pop("id"))
    switch = fields.pop("switch", None)
    fields.pop("node", None)
    fields.pop("protocol", None)
    battery = fields.pop("battery", None)
    values: dict[str, Any] = dict(fields)
    if battery in ("ok", "low"):
        # RFLink only says OK/LOW, never a percentage: keep Reading.battery None.
        values["battery_low"] = battery == "low"
    kind = next(
        (k for f, k in _KIND_FIELDS if f in fields), "switch" if "command" in fields else "sensor"
    )
    state_field = next((f for f in _STATE_FIELDS if f in fields), None)
    state = None if state_field is None else _STATE_WORDS.get(str(fields[state_field]))
    key = f"{PROTOCOL}:{name}:{device_id}" + (f":{switch}" if switch is not None else "")
    return Reading(device=key.lower(), protocol=PROTOCOL, kind=kind, values=values, state=state)

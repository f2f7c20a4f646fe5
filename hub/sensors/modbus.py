"""Modbus RTU gas, smoke, CO and water detectors (pure: no pymodbus, no serial, no asyncio).

Three things live here, each plain data in and plain data out:

- `ModbusConfig` / `parse_modbus`: the [modbus] section with one register map per detector
  (unit id, function, address, which values mean alarm / fault / tamper / normal, an
  optional concentration register and its scale), validated with errors naming the option.
- `decode`: the values one poll read from a detector -> a `Reading` (`alarm`, `fault`,
  `tamper` as booleans, the raw status, the concentration) or `DecodeError`.
- `Silence`: counts consecutive failed polls per detector and says, once per outage, when a
  detector has stopped answering.

Every reading says its state (`Reading.state`): ALARM for a status the map lists as alarm,
CLEAR for a normal one (a polled detector answers "normal" every few seconds: each is an
all-clear, never an alarm), and nothing (None) for fault or tamper: a detector that
cannot sense neither raises nor ends a hazard; supervision reports the fault.
`values` keeps `alarm`, `fault` and `tamper` as booleans for the event data.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hub.errors import ConfigError, DecodeError
from hub.reading import Reading, State

PROTOCOL = "modbus"
# Which Modbus table the status is read from, by the name an installer finds in a
# detector's manual: holding registers (FC 3), input registers (FC 4), coils (FC 1),
# discrete inputs (FC 2).
FUNCTIONS = ("holding", "input", "coil", "discrete")
REGISTER_FUNCTIONS = ("holding", "input")
DETECTOR_KINDS = ("gas", "smoke", "co", "water")
# A status and its concentration register are read in one request; the Modbus limit is 125
# registers per read, but a detector's map is small: a gap this wide is a typo.
MAX_SPAN = 32
# Modbus RTU unit ids 1-247 address one slave each (0 is broadcast, 248-255 reserved).
UNIT_MIN, UNIT_MAX = 1, 247
MAX_DETECTORS = 32  # RS-485 unit loads: 32 standard transceivers on one bus
REGISTER_MAX = 0xFFFF


@dataclass(frozen=True)
class Detector:
    """One detector's register map: where its status is and what the values mean."""

    unit: int
    kind: str = "gas"
    function: str = "holding"
    address: int = 0
    alarm: tuple[int, ...] = (1,)
    fault: tuple[int, ...] = ()
    tamper: tuple[int, ...] = ()
    # Empty: any value that is not alarm/fault/tamper is normal. Given: any other value is
    # refused (DecodeError), so a detector in a state the map does not know is not
    # silently taken for "all clear".
    normal: tuple[int, ...] = ()
    mask: int = REGISTER_MAX
    concentration_address: int | None = None
    scale: float = 1.0
    concentration_unit: str = ""

    @property
    def concentration(self) -> int | None:
        """Address of the concentration register; None without one (or for a bit)."""
        return self.concentration_address if self.function in REGISTER_FUNCTIONS else None

    @property
    def start(self) -> int:
        """First address of the one read a poll makes."""
        if self.concentration is None:
            return self.address
        return min(self.address, self.concentration)

    @property
    def count(self) -> int:
        """How many registers (or bits) the poll reads."""
        if self.concentration is None:
            return 1
        return abs(self.address - self.concentration) + 1

    def key(self, port: str) -> str:
        """The device key the registry pairs: `modbus:<port>:<unit>`."""
        return f"{PROTOCOL}:{port}:{self.unit}"


@dataclass(frozen=True)
class ModbusConfig:
    """[modbus]: one RS-485 bus and the detectors on it."""

    port: str = ""
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8
    poll_s: float = 2.0
    timeout_s: float = 0.5
    retries: int = 1
    offline_after: int = 3
    detectors: tuple[Detector, ...] = ()


# Bus options: (type, low, high, help). Defaults are ModbusConfig's.
_BUS_OPTIONS: dict[str, tuple[type, float, float, str]] = {
    "baudrate": (int, 1200, 115200, "the detectors' baud rate (their manual; 9600 is usual)"),
    "stopbits": (int, 1, 2, "stop bits, 1 or 2"),
    "bytesize": (int, 7, 8, "data bits, 7 or 8"),
    "poll_s": (float, 0.2, 60, "seconds between polls of each detector"),
    "timeout_s": (float, 0.05, 5, "seconds to wait for a detector's answer"),
    "retries": (int, 0, 5, "extra tries of a request that got no answer"),
    "offline_after": (int, 1, 100, "failed polls in a row before sensor_offline"),
}
_PARITIES = ("N", "E", "O")
_DETECTOR_KEYS = (
    "unit",
    "kind",
    "function",
    "address",
    "alarm",
    "fault",
    "tamper",
    "normal",
    "mask",
    "concentration_address",
    "scale",
    "concentration_unit",
)


def _number(
    where: str, value: Any, want: type, bounds: tuple[float, float], problems: list[str]
) -> Any:
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(f"{where}: must be a number from {lo:g} to {hi:g}, got {value!r}")
        return None
    if want is int and not isinstance(value, int):
        problems.append(f"{where}: must be a whole number, got {value!r}")
        return None
    # Compare before any float conversion: a huge TOML integer would overflow math.isfinite.
    if (isinstance(value, float) and not math.isfinite(value)) or not lo <= value <= hi:
        problems.append(f"{where}: {value!r} is out of range; allowed {lo:g} to {hi:g}")
        return None
    return want(value)


def _values(where: str, value: Any, problems: list[str]) -> tuple[int, ...] | None:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= REGISTER_MAX for v in value
    ):
        problems.append(f"{where}: must be a list of register values 0 to 65535, e.g. [1]")
        return None
    return tuple(value)


def _unknown(where: str, key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {where}.{close[0]}?" if close else ""
    return f"{where}.{key}: unknown option{hint}"


def _detector(where: str, item: Any, problems: list[str]) -> Detector | None:
    if not isinstance(item, Mapping):
        problems.append(f"{where}: must be a table ([[modbus.detectors]]) with at least unit")
        return None
    before = len(problems)
    problems += [_unknown(where, k, _DETECTOR_KEYS) for k in item if k not in _DETECTOR_KEYS]
    values: dict[str, Any] = {}
    if "unit" not in item:
        problems.append(f"{where}.unit: required; the detector's Modbus address (1-247)")
    else:
        values["unit"] = _number(f"{where}.unit", item["unit"], int, (UNIT_MIN, UNIT_MAX), problems)
    for key, choices in (("kind", DETECTOR_KINDS), ("function", FUNCTIONS)):
        if key in item:
            if item[key] not in choices:
                allowed = ", ".join(repr(c) for c in choices)
                problems.append(
                    f"{where}.{key}: {item[key]!r} is not allowed; use one of {allowed}"
                )
            else:
                values[key] = item[key]
    for key in ("address", "concentration_address"):
        if key in item:
            values[key] = _number(f"{where}.{key}", item[key], int, (0, REGISTER_MAX), problems)
    if "mask" in item:
        values["mask"] = _number(f"{where}.mask", item["mask"], int, (1, REGISTER_MAX), problems)
    if "scale" in item:
        values["scale"] = _number(f"{where}.scale", item["scale"], float, (-1e6, 1e6), problems)
    if "concentration_unit" in item:
        unit = item["concentration_unit"]
        if not isinstance(unit, str) or len(unit) > 16:
            problems.append(f'{where}.concentration_unit: must be short text, e.g. "%LEL"')
        else:
            values["concentration_unit"] = unit
    for key in ("alarm", "fault", "tamper", "normal"):
        if key in item:
            values[key] = _values(f"{where}.{key}", item[key], problems)
    if len(problems) > before:
        return None
    det = Detector(**values)
    meanings = {k: set(getattr(det, k)) for k in ("alarm", "fault", "tamper", "normal")}
    if not det.alarm:
        problems.append(f"{where}.alarm: give at least one value that means alarm")
    for i, (a, av) in enumerate(meanings.items()):
        for b, bv in list(meanings.items())[i + 1 :]:
            if av & bv:
                problems.append(
                    f"{where}.{b}: {sorted(av & bv)} also listed in {where}.{a}; "
                    "each value can mean one thing only"
                )
    if det.function not in REGISTER_FUNCTIONS:
        bits = {v for vals in meanings.values() for v in vals}
        if not bits <= {0, 1}:
            problems.append(
                f"{where}.alarm: a {det.function} is a single bit, so its values are 0 or 1"
            )
        if det.concentration_address is not None:
            problems.append(
                f"{where}.concentration_address: needs function = 'holding' or 'input' "
                "(a concentration is a register)"
            )
    if det.count > MAX_SPAN:
        problems.append(
            f"{where}.concentration_address: more than {MAX_SPAN - 1} registers from address; "
            "check the detector's register map"
        )
    return det if len(problems) == before else None


def parse_modbus(raw: Mapping[str, Any]) -> ModbusConfig:
    """Validate the [modbus] table; ConfigError names each bad option."""
    if not isinstance(raw, Mapping):
        raise ConfigError(["[modbus]: must be a table"])
    known = ("port", "parity", "detectors", *_BUS_OPTIONS)
    problems = [_unknown("modbus", k, known) for k in raw if k not in known]
    values: dict[str, Any] = {}
    if "port" in raw:
        if not isinstance(raw["port"], str):
            problems.append('modbus.port: must be text, e.g. "/dev/serial/by-id/usb-…-if00"')
        else:
            values["port"] = raw["port"]
    if "parity" in raw:
        if raw["parity"] not in _PARITIES:
            problems.append(f"modbus.parity: {raw['parity']!r} is not allowed; use 'N', 'E' or 'O'")
        else:
            values["parity"] = raw["parity"]
    for key, (want, lo, hi, _help) in _BUS_OPTIONS.items():
        if key in raw:
            value = _number(f"modbus.{key}", raw[key], want, (lo, hi), problems)
            if value is not None:
                values[key] = value
    items = raw.get("detectors", [])
    if not isinstance(items, list):
        problems.append("modbus.detectors: must be a list of tables ([[modbus.detectors]])")
        items = []
    if len(items) > MAX_DETECTORS:
        problems.append(f"modbus.detectors: at most {MAX_DETECTORS} detectors on one bus")
    detectors: list[Detector] = []
    units: dict[int, int] = {}
    for i, item in enumerate(items):
        det = _detector(f"modbus.detectors[{i}]", item, problems)
        if det is None:
            continue
        if det.unit in units:
            problems.append(
                f"modbus.detectors[{i}].unit: {det.unit} is already used by "
                f"modbus.detectors[{units[det.unit]}]; each detector needs its own unit id"
            )
        units[det.unit] = i
        detectors.append(det)
    values["detectors"] = tuple(detectors)
    if detectors and not values.get("port"):
        problems.append("modbus.port: required when detectors are listed (the RS-485 adapter)")
    cfg = ModbusConfig(**values)
    if problems:
        raise ConfigError(problems)
    return cfg


def decode(detector: Detector, port: str, values: Sequence[Any]) -> Reading:
    """The values one poll read (from `detector.start`) -> Reading, or DecodeError."""
    if len(values) < detector.count:
        raise DecodeError(f"modbus: {len(values)} values read, {detector.count} expected")
    if detector.function in REGISTER_FUNCTIONS:
        for value in values[: detector.count]:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
                raise DecodeError(f"modbus: {value!r} is not a register value")
        raw = values[detector.address - detector.start]
    else:
        raw = values[0]
        if not isinstance(raw, bool) and raw not in (0, 1):
            raise DecodeError(f"modbus: {raw!r} is not a bit")
        raw = int(raw)
    status = raw & detector.mask
    alarm, fault, tamper = (
        status in detector.alarm,
        status in detector.fault,
        status in detector.tamper,
    )
    if detector.normal and not (alarm or fault or tamper or status in detector.normal):
        raise DecodeError(f"modbus: status {status} is not in the detector's register map")
    out: dict[str, Any] = {"alarm": alarm, "fault": fault, "tamper": tamper, "raw": raw}
    if detector.concentration is not None:
        level = values[detector.concentration - detector.start] * detector.scale
        out["concentration"] = round(level, 3)
        if detector.concentration_unit:
            out["concentration_unit"] = detector.concentration_unit
    state = State.ALARM if alarm else None if fault or tamper else State.CLEAR
    return Reading(
        device=detector.key(port), protocol=PROTOCOL, kind=detector.kind, values=out, state=state
    )


class Silence:
    """Consecutive failed polls per detector; `failed` is True once per outage."""

    def __init__(self, offline_after: int) -> None:
        self.offline_after = offline_after
        self._failures: dict[str, int] = {}

    def answered(self, device: str) -> None:
        """The detector answered: its outage (if any) is over."""
        self._failures.pop(device, None)

    def failed(self, device: str) -> bool:
        """One poll got no usable answer; True exactly when this makes it an outage."""
        count = self._failures.get(device, 0) + 1
        self._failures[device] = count
        return count == self.offline_after

    def failures(self, device: str) -> int:
        """Failed polls in a row so far."""
        return self._failures.get(device, 0)

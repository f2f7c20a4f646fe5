"""mmWave radars (pure): every module's frames in one vocabulary, and what the hub hears.

A radar is a sensor source like RFLink: its readings use the hub's one vocabulary
(`Reading.state`), so the care checks read a radar as they read a PIR:

    reading kind   state                       values
    motion         ALARM someone moving        motion, presence, distance_cm, moving_energy,
                   CLEAR nobody, or someone    still_energy (what the module gives)
                         still
    fall           ALARM the module saw a fall fall
                   CLEAR no fall

A radar reports many times a second (an LD2410 about 10, an MR60FDA1's body-movement value
once a second). The hub does not need each: `RadarTracker` turns the stream into readings
only when something the care checks use changes (someone there or not, moving or not, a
fall), restates ongoing movement every MOTION_REPEAT_S (movement is a sign of life that goes
on) and ongoing stillness every KEEPALIVE_S, and keeps the latest frame for the
installer's live page. A module that says "still" for a moment between two "moving"
reports is still moving: stillness is only reported after it has lasted STILL_AFTER_S.

Silence is a fact for a radar: it sends every second or faster, so one that sends nothing
for `silent_s` (default SILENT_S) is offline now, not after a learned interval
(`RadarTracker.silence`); its next frame is reported at once and restores it.

What a radar reports is only this: whether someone is there, moving or still, how far,
how strong the echo is per distance gate, and a fall. No image exists anywhere: the modules
have no camera and compute no picture, and the hub keeps no frame beyond the last one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.errors import ConfigError, DecodeError
from hub.reading import Reading, State
from hub.sensors import ld2410, mr60fda1
from hub.sensors.frames import Framer

PREFIX = "radar"
MODELS = (ld2410.MODEL, mr60fda1.MODEL)
# Both modules send at least once a second (HiLink: ~10 reports/s; Seeed: body movement
# every second). Five seconds without a frame is five missed reports, not jitter.
SILENT_S = 5.0
# Movement that goes on is restated this often: each restatement is a sign of life, so the
# night-visit wait restarts while she showers, and the pages stay live.
MOTION_REPEAT_S = 30.0
# Someone still, or nobody: restated this often so supervision keeps hearing the radar.
KEEPALIVE_S = 60.0
# "Still" between two "moving" reports is the module's own flicker (an LD2410 alternates
# moving and still several times a second while someone washes); only stillness that
# lasts this long is reported as such.
STILL_AFTER_S = 3.0


# At most this many radars: two to four rooms of a flat, each with its own UART adapter.
MAX_RADARS = 8


@dataclass(frozen=True)
class RadarDevice:
    """One radar module on its own serial port ([[radar.devices]])."""

    port: str
    model: str = ld2410.MODEL
    baudrate: int = 0  # 0: the model's own default (LD2410 256000, MR60FDA1 115200)
    silent_s: float = SILENT_S

    @property
    def key(self) -> str:
        """The device key the registry pairs: `radar:<port>`."""
        return radar_key(self.port)


@dataclass(frozen=True)
class RadarConfig:
    """[radar]: the radar modules the hub reads."""

    devices: tuple[RadarDevice, ...] = ()


_DEVICE_KEYS = ("port", "model", "baudrate", "silent_s")


def parse_radar(raw: Mapping[str, Any]) -> RadarConfig:
    """Validate the [radar] table; ConfigError names each bad option."""
    problems: list[str] = []
    for key in raw:
        if key != "devices":
            problems.append(f"radar.{key}: unknown option; radars are listed as [[radar.devices]]")
    items = raw.get("devices", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(
            [*problems, "radar.devices: must be a list of tables ([[radar.devices]])"]
        )
    if len(items) > MAX_RADARS:
        problems.append(f"radar.devices: at most {MAX_RADARS} radars")
    devices: list[RadarDevice] = []
    ports: dict[str, int] = {}
    for i, item in enumerate(items):
        name = f"radar.devices[{i}]"
        for key in item:
            if key not in _DEVICE_KEYS:
                close = difflib.get_close_matches(key, _DEVICE_KEYS, n=1)
                hint = f"; did you mean {name}.{close[0]}?" if close else ""
                problems.append(f"{name}.{key}: unknown option{hint}")
        port, model = item.get("port"), item.get("model", ld2410.MODEL)
        baud, silent = item.get("baudrate", 0), item.get("silent_s", SILENT_S)
        if not isinstance(port, str) or not port.strip():
            problems.append(f'{name}.port: required, e.g. "/dev/serial/by-id/usb-…-if00"')
            continue
        if model not in MODELS:
            problems.append(f"{name}.model: {model!r} is not one of {', '.join(MODELS)}")
            continue
        if (
            isinstance(baud, bool)
            or not isinstance(baud, int)
            or not (baud == 0 or 1200 <= baud <= 4_000_000)
        ):
            problems.append(f"{name}.baudrate: give 1200-4000000, or 0 for the model's default")
            continue
        if (
            isinstance(silent, bool)
            or not isinstance(silent, int | float)
            or not 2 <= silent <= 600
        ):
            problems.append(f"{name}.silent_s: give 2-600 seconds")
            continue
        if port in ports:
            problems.append(f"{name}.port: {port} is already radar.devices[{ports[port]}]")
            continue
        ports[port] = i
        devices.append(RadarDevice(port, str(model), int(baud), float(silent)))
    if problems:
        raise ConfigError(problems)
    return RadarConfig(tuple(devices))


def radar_key(port: str) -> str:
    """The device key of the radar on `port`: `radar:<port>`."""
    return f"{PREFIX}:{port}"


@dataclass(frozen=True)
class Observation:
    """What one frame said, in the shared vocabulary (None: this frame does not say)."""

    presence: bool | None = None
    moving: bool | None = None
    fall: bool | None = None
    distance_cm: int | None = None
    moving_energy: int | None = None
    still_energy: int | None = None
    moving_gates: tuple[int, ...] = ()
    still_gates: tuple[int, ...] = ()
    dwell: bool | None = None  # the module's own "still too long" (MR60FDA1 residency)
    movement: int | None = None  # MR60FDA1 body movement 0-100
    settings: ld2410.Parameters | None = None  # an LD2410's answer to "read parameters"
    refused: int | None = None  # the command word of a setting the module refused


def ld2410_observation(frame: ld2410.Frame) -> Observation | None:
    """An LD2410 report in the shared vocabulary; an answer to a command carries only the
    module's settings (read back after each change) or the command it refused."""
    if isinstance(frame, ld2410.Ack):
        return Observation(settings=frame.parameters, refused=None if frame.ok else frame.command)
    if frame.target.value > ld2410.Target.MOVING_AND_STILL:
        return Observation()  # calibrating: alive, says nothing about people
    distance = frame.moving_cm if frame.moving else frame.still_cm if frame.presence else None
    return Observation(
        presence=frame.presence,
        moving=frame.moving,
        distance_cm=distance,
        moving_energy=frame.moving_energy,
        still_energy=frame.still_energy,
        moving_gates=frame.moving_gates,
        still_gates=frame.still_gates,
    )


def mr60fda1_observation(report: mr60fda1.Report) -> Observation:
    """An MR60FDA1 report in the shared vocabulary."""
    topic, value = report.topic, report.value
    if topic is mr60fda1.Topic.PRESENCE:
        return Observation(presence=value == 1, moving=False if value == 0 else None)
    if topic is mr60fda1.Topic.MOTION:
        active = value == mr60fda1.Motion.ACTIVE.value
        return Observation(presence=value != mr60fda1.Motion.NONE.value, moving=active)
    if topic is mr60fda1.Topic.FALL:
        return Observation(fall=value == 1)
    if topic is mr60fda1.Topic.DWELL:
        return Observation(dwell=value == 1)
    if topic is mr60fda1.Topic.BODY_MOVEMENT:
        return Observation(movement=value)
    return Observation()  # heartbeat, replies: alive


@dataclass(frozen=True)
class Model:
    """How the hub talks to one kind of module."""

    name: str
    baudrate: int
    framer: Callable[[], Framer]
    decode: Callable[[bytes], Observation | None]  # DecodeError for a bad frame
    start: Callable[[], list[bytes]]  # commands written when the port opens
    poll: Callable[[], list[bytes]]  # written each second the module is quiet


def _ld2410_decode(raw: bytes) -> Observation | None:
    return ld2410_observation(ld2410.decode(raw))


def _mr60_decode(raw: bytes) -> Observation | None:
    return mr60fda1_observation(mr60fda1.decode(raw))


MODEL_TABLE: dict[str, Model] = {
    ld2410.MODEL: Model(
        ld2410.MODEL, ld2410.BAUDRATE, ld2410.framer, _ld2410_decode, ld2410.engineering_on, list
    ),
    mr60fda1.MODEL: Model(
        mr60fda1.MODEL,
        mr60fda1.BAUDRATE,
        mr60fda1.framer,
        _mr60_decode,
        mr60fda1.start_queries,
        lambda: [mr60fda1.heartbeat_query()],
    ),
}


@dataclass
class Live:
    """The latest of one radar, for the installer's page (nothing older is kept)."""

    presence: bool | None = None
    moving: bool | None = None
    fall: bool | None = None
    dwell: bool | None = None
    distance_cm: int | None = None
    moving_energy: int | None = None
    still_energy: int | None = None
    movement: int | None = None
    moving_gates: tuple[int, ...] = ()
    still_gates: tuple[int, ...] = ()
    frames: int = 0
    bad_frames: int = 0
    last_frame: float | None = None  # monotonic
    settings: ld2410.Parameters | None = None  # as the module last read them back
    refused: int = 0  # settings the module refused (its ACK said "failed")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the pages, `status`)."""
        return {
            "presence": self.presence,
            "moving": self.moving,
            "fall": self.fall,
            "dwell": self.dwell,
            "distance_cm": self.distance_cm,
            "moving_energy": self.moving_energy,
            "still_energy": self.still_energy,
            "movement": self.movement,
            "moving_gates": list(self.moving_gates),
            "still_gates": list(self.still_gates),
            "frames": self.frames,
            "bad_frames": self.bad_frames,
        }


@dataclass
class RadarTracker:
    """One radar's stream -> the readings the hub acts on, and its live state."""

    device: str
    protocol: str
    silent_s: float = SILENT_S
    live: Live = field(default_factory=Live)
    _said: tuple[bool, bool] | None = None  # (presence, moving) last reported
    _said_at: float = 0.0
    _still_since: float | None = None
    _fall: bool | None = None
    _back: bool = True  # the next frame is reported whatever it says (first, or after silence)
    _reported: bool = False  # this outage was reported
    _quiet_since: float | None = None

    def start(self, now: float) -> None:
        """The port is open (or being tried) from `now`: silence counts from here."""
        if self._quiet_since is None:
            self._quiet_since = now

    def bad_frame(self) -> None:
        """A frame that did not decode (counted, shown on the page)."""
        self.live.bad_frames += 1

    def observe(self, obs: Observation, now: float) -> list[Reading]:
        """One decoded frame at monotonic `now` -> readings to hand to the hub (often none)."""
        live = self.live
        live.frames += 1
        live.last_frame = now
        for name in ("presence", "moving", "fall", "dwell", "movement", "settings"):
            value = getattr(obs, name)
            if value is not None:
                setattr(live, name, value)
        if obs.refused is not None:
            live.refused += 1
        if obs.presence is not None:
            live.distance_cm = obs.distance_cm
            live.moving_energy, live.still_energy = obs.moving_energy, obs.still_energy
            live.moving_gates, live.still_gates = obs.moving_gates, obs.still_gates
        back, self._back, self._reported = self._back, False, False
        out: list[Reading] = []
        if obs.fall is not None and (obs.fall != self._fall or back):
            self._fall = obs.fall
            out.append(self._reading("fall", State.ALARM if obs.fall else State.CLEAR))
        out += self._presence(now, back)
        return out

    def _presence(self, now: float, back: bool) -> list[Reading]:
        live = self.live
        if live.presence is None:
            return [self._motion(now)] if back else []
        moving = bool(live.moving) and bool(live.presence)
        if moving:
            self._still_since = None
        elif self._still_since is None:
            self._still_since = now
        said = self._said
        if back or said is None:
            return [self._motion(now)]
        if moving:
            if not said[1] or now - self._said_at >= MOTION_REPEAT_S:
                return [self._motion(now)]
            return []
        still_long = self._still_since is not None and now - self._still_since >= STILL_AFTER_S
        if said[1] and not still_long and live.presence:
            return []  # a flicker of "still" inside movement
        if said != (bool(live.presence), False) or now - self._said_at >= KEEPALIVE_S:
            return [self._motion(now)]
        return []

    def _motion(self, now: float) -> Reading:
        live = self.live
        presence, moving = bool(live.presence), bool(live.moving) and bool(live.presence)
        self._said, self._said_at = (presence, moving), now
        values: dict[str, Any] = {"motion": moving, "presence": presence}
        for name in ("distance_cm", "moving_energy", "still_energy"):
            value = getattr(live, name)
            if value is not None and presence:
                values[name] = value
        if live.dwell is not None:
            values["dwell"] = live.dwell
        state: State | None = State.ALARM if moving else State.CLEAR
        if live.presence is None:
            values = {}
            state = None  # alive, but it has not said yet whether anyone is there
        return Reading(self.device, self.protocol, "motion", values, state=state)

    def _reading(self, kind: str, state: State) -> Reading:
        return Reading(self.device, self.protocol, kind, {kind: state is State.ALARM}, state=state)

    def silence(self, now: float) -> float | None:
        """Seconds without a frame, once per outage, when that reaches `silent_s` (None
        otherwise): the radar is offline now; its next frame is reported and restores it."""
        heard = self.live.last_frame if self.live.last_frame is not None else self._quiet_since
        if heard is None or self._reported:
            return None
        quiet = now - heard
        if quiet < self.silent_s:
            return None
        self._reported = True
        self._back = True
        return quiet

    def quiet_for(self, now: float) -> float:
        """Seconds since the last frame (or since the port was first tried)."""
        heard = self.live.last_frame if self.live.last_frame is not None else self._quiet_since
        return 0.0 if heard is None else max(0.0, now - heard)


def decode_frame(model: Model, raw: bytes) -> Observation | None:
    """Decode one framed frame with the model (DecodeError passes through)."""
    try:
        return model.decode(raw)
    except DecodeError:
        raise
    except (ValueError, IndexError) as exc:  # a decoder bug must not end the source
        raise DecodeError(f"{model.name}: {type(exc).__name__}") from exc

"""Configuration: TOML read with `tomllib`, validated once into typed, frozen objects.

Every option is declared once, with its default and what is allowed; the same
declarations drive validation, error messages and `config.example.toml`'s checks.
Errors name the option (`mqtt.port`) and say what to do.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.care.config import CareConfig, parse_care_config
from hub.errors import ConfigError
from hub.sensors.ble_options import ble_problems
from hub.sensors.keys import canonical_key
from hub.sensors.modbus import ModbusConfig, parse_modbus
from hub.sensors.radar import RadarConfig, parse_radar
from hub.sos.escalation import EscalationConfig, parse_escalation
from hub.sync.brokers import check_brokers
from hub.voice.options import check_voice_config

_HUB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TOPIC_PREFIX = re.compile(r"^[A-Za-z0-9_/-]{1,100}$")
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


def _opt(
    default: Any,
    help: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """Declare an option: default, one-line help and the allowed range or choices."""
    meta = {"help": help, "lo": lo, "hi": hi, "choices": choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class HubSection:
    """[hub]"""

    id: str = _opt("", "hub id: letters, digits, '-' or '_', at most 64; required")
    data_dir: str = _opt("/var/lib/pingan-hub", "directory for the database and registry")
    timezone: str = _opt("Asia/Shanghai", "IANA timezone for wall-clock windows")
    language: str = _opt("cmn", "elder-facing prompts", choices=("cmn", "yue", "en"))
    log_level: str = _opt("INFO", "logging level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass(frozen=True)
class MqttSection:
    """[mqtt]"""

    host: str = _opt("localhost", "broker host name or address")
    port: int = _opt(1883, "broker TCP port (8883 is usual with TLS)", lo=1, hi=65535)
    brokers: tuple[str, ...] = _opt(
        (),
        "the nodes of a broker cluster as host:port (port defaults to mqtt.port); the hub "
        "rotates through them on failure; replaces mqtt.host when given",
    )
    prefix: str = _opt("pingan/v1", "topic prefix; the hub id is appended")
    protocol: str = _opt(
        "auto",
        "MQTT version: auto tries 5 then 3.1.1, the one that worked first after a restart",
        choices=("auto", "5", "3.1.1"),
    )
    client_id: str = _opt("", "MQTT client id; empty means pingan-<hub id>")
    username: str = _opt("", "per-hub user name; empty for none")
    password: str = _opt("", "per-hub password; empty for none")
    tls: bool = _opt(False, "use TLS")
    ca_file: str = _opt("", "fleet CA certificate (PEM); empty uses the system store")
    cert_file: str = _opt("", "client certificate (PEM) for per-hub TLS auth")
    key_file: str = _opt("", "client private key (PEM)")
    keepalive_s: int = _opt(30, "MQTT keepalive seconds", lo=5, hi=3600)
    heartbeat_s: float = _opt(60.0, "seconds between retained status heartbeats", lo=1, hi=3600)
    reconnect_min_s: float = _opt(0.5, "first reconnect delay", lo=0.05, hi=60)
    reconnect_max_s: float = _opt(30.0, "longest reconnect delay", lo=0.1, hi=600)
    reconnect_spread_s: float = _opt(
        5.0,
        "after a lost session, the first reconnect comes at a random moment within this many "
        "seconds (a lost broker node's hubs do not all return at once); an alarm cuts it short",
        lo=0,
        hi=300,
    )


@dataclass(frozen=True)
class OutboxSection:
    """[outbox]"""

    max_bytes: int = _opt(
        64 * 1024 * 1024,
        "bound on queued events; telemetry is shed first, then warnings, alarms never",
        lo=64 * 1024,
        hi=4 * 1024**3,
    )
    log_keep: int = _opt(
        2000, "how many sent events are kept for `pingan-hub events`", lo=10, hi=1_000_000
    )
    telemetry_group_s: float = _opt(
        300.0,
        "telemetry is written to the SD card in one forced commit at most this often "
        "(0: each at once); alarms and warnings are always written at once",
        lo=0.0,
        hi=900.0,
    )


@dataclass(frozen=True)
class GpioSection:
    """[gpio]"""

    pin_factory: str = _opt(
        "lgpio",
        "gpiozero pin factory: lgpio on a Pi, mock for demo/tests",
        choices=("lgpio", "rpigpio", "pigpio", "native", "mock"),
    )
    sos_pin: int = _opt(
        17, "BCM pin of the red SOS button (to ground, internal pull-up)", lo=0, hi=53
    )
    ok_pin: int = _opt(27, "BCM pin of the green 'I'm OK' button", lo=0, hi=53)
    led_pin: int = _opt(22, "BCM pin of the status LED", lo=0, hi=53)
    buzzer_pin: int = _opt(23, "BCM pin of the buzzer / siren driver", lo=0, hi=53)
    bounce_s: float = _opt(0.05, "button debounce time", lo=0.0, hi=1.0)


@dataclass(frozen=True)
class SosSection:
    """[sos]"""

    ack_timeout_s: float = _opt(
        30.0, "escalate when the centre has not acknowledged by then", lo=1, hi=3600
    )
    resend_s: float = _opt(
        5.0,
        "resend an unacknowledged alarm this often until the ack timeout (Essence UL: "
        "5-10 retries of 3-7 s before the other path)",
        lo=1,
        hi=3600,
    )
    slow_resend_s: float = _opt(
        60.0,
        "after escalating, keep resending this often until the centre answers",
        lo=5,
        hi=3600,
    )
    cancel_hold_s: float = _opt(
        3.0, "holding the red button this long cancels a false alarm", lo=0.5, hi=10
    )
    cancel_window_s: float = _opt(
        30.0, "a false alarm can be cancelled this long after the press", lo=0, hi=300
    )


@dataclass(frozen=True)
class RflinkSection:
    """[rflink]"""

    port: str = _opt(
        "", "serial port of the RFLink 433 MHz gateway, e.g. /dev/ttyACM0; empty: none"
    )
    baudrate: int = _opt(57600, "RFLink speaks 57600 baud", lo=1200, hi=4_000_000)


@dataclass(frozen=True)
class BleSection:
    """[ble]: BLE wearables and sensors (bleak; needs the `ble` extra)."""

    enabled: bool = _opt(False, "listen for BLE adverts (BTHome pendants and sensors, wearables)")
    adapter: str = _opt("hci0", "BlueZ adapter to scan with")
    passive: bool = _opt(
        True, "passive scanning (BlueZ >= 5.56 with --experimental); falls back to active"
    )
    stall_s: float = _opt(
        600.0,
        "nothing heard this long: the scanner is restarted; a fault is sent if that fails",
        lo=30,
        hi=86400,
    )
    room: str = _opt("", "room this hub's radio is in (kept with the presence history)")
    presence_near_dbm: int = _opt(
        -75, "the wearable is near once its smoothed RSSI reaches this", lo=-120, hi=0
    )
    presence_away_dbm: int = _opt(
        -85, "near turns to away below this (lower than near: hysteresis)", lo=-120, hi=0
    )
    presence_away_s: float = _opt(
        180.0, "the wearable is away when not heard this long", lo=10, hi=3600
    )
    presence_keep_days: int = _opt(7, "days of presence history kept", lo=1, hi=31)
    gatt_devices: str = _opt(
        "",
        "wearables to connect to (heart rate, SpO2, blood pressure, battery): comma-separated",
    )
    bindkeys: str = _opt("", "BTHome encryption keys: ADDRESS=32 hex digits, comma-separated")


@dataclass(frozen=True)
class VoiceSection:
    """[voice]"""

    prompts: bool = _opt(True, "speak prompts to the elder (espeak-ng; language from hub.language)")
    volume: int = _opt(120, "espeak-ng amplitude, 0 to 200", lo=0, hi=200)
    rate: int = _opt(140, "words per minute; slower is clearer for the elderly", lo=80, hi=300)
    prompt_pack: str = _opt(
        "",
        "folder of prompts recorded by a real voice, <folder>/<language>/<prompt id>.wav, "
        "played instead of espeak-ng where a file passes the start-up check; '' for none",
    )
    listen: bool = _opt(False, "listen on the microphone (arecord) for a help phrase")
    confirm_s: float = _opt(
        10.0,
        "after a help phrase, seconds to answer before the SOS is raised (silence raises it)",
        lo=1,
        hi=60,
    )
    gate_rms: float = _opt(
        300.0, "sound level (RMS of 16-bit samples) that wakes the spotter", lo=0, hi=32767
    )
    engines: str = _opt(
        "pocketsphinx",
        "engines that listen, comma-separated: pocketsphinx (English, built in), "
        "whisper (Mandarin zh_phrases; Whisper base in its own process, the prompt-check "
        "extra, a Pi 4 or 5 with 2 GB), whisper-en (English en_phrases, the same model), "
        "stage (stage_command), vosk (needs vosk_model), "
        "enrolled (after `pingan-hub voice enrol`)",
    )
    second_pass: str = _opt(
        "neural",
        "how pocketsphinx's candidates are confirmed: neural (a small classifier on "
        "openWakeWord's speech embedding, better on unseen voices) or words (a word model, "
        "no onnxruntime needed)",
        choices=("neural", "words"),
    )
    vosk_model: str = _opt(
        "", "directory of the vosk model installed in the image (never downloaded); '' for none"
    )
    vosk_phrases: str = _opt(
        "救命,救命啊,帮帮我,来人啊", "comma-separated help phrases vosk listens for"
    )
    enrolled_threshold: float = _opt(
        0.0,
        "how far speech may be from the enrolled phrase (DTW distance); 0 for the measured "
        "default of the stored templates (speech embedding 0.2, old MFCC templates 5.0)",
        lo=0,
        hi=20,
    )
    zh_phrases: str = _opt(
        "救命,救命啊,帮帮我,来人啊,快来人,我摔倒了",
        "Mandarin help phrases for the whisper engine (and a stage_command), comma-separated; "
        "matched by sound (pinyin), so characters that sound the same match",
    )
    en_phrases: str = _opt(
        "help,i've fallen,i fell",
        "English help phrases for the whisper-en engine, comma-separated; a phrase counts "
        "where it ends what was said ('help me', 'I fell down', not 'help yourself')",
    )
    zh_fuzzy: bool = _opt(
        True,
        "whisper engine: zh/z, ch/c, sh/s, n/l and -ng/-n count as one sound (southern accents)",
    )
    zh_threads: int = _opt(2, "whisper engine: CPU threads Whisper may use", lo=1, hi=4)
    stage_command: str = _opt(
        "",
        "engine 'stage': a keyword engine installed in the image, run as its own process "
        "(protocol in hub/voice/stage.py), e.g. '/usr/lib/kws-zh/run --model /usr/share/kws-zh'",
    )


@dataclass(frozen=True)
class HealthSection:
    """[health]"""

    bucket_s: int = _opt(
        300, "vital signs are kept as count/mean/min/max per this many seconds", lo=60, hi=3600
    )
    keep_days: int = _opt(90, "days the health archive is kept", lo=1, hi=3650)


@dataclass(frozen=True)
class WebSection:
    """[web]: installer and family pages on the home LAN (hub/web)."""

    enabled: bool = _opt(False, "serve the installer and family pages on the home LAN")
    interface: str = _opt("wlan0", "LAN interface whose IPv4 address the pages listen on")
    listen: str = _opt(
        "", "listen on this address instead (never all interfaces); empty: interface"
    )
    port: int = _opt(8080, "TCP port of the pages", lo=1, hi=65535)
    permit_join_s: int = _opt(120, "permit-join window, like Zigbee's (seconds)", lo=10, hi=900)
    installer_pin_s: int = _opt(
        1800, "an unused installer PIN expires after this many seconds", lo=60, hi=86400
    )
    installer_session_s: int = _opt(
        3600, "an installer session ends this long after its last request", lo=60, hi=86400
    )
    family_session_s: int = _opt(
        30 * 86400, "a family session ends this long after its last request", lo=300, hi=90 * 86400
    )
    max_attempts: int = _opt(5, "wrong PINs in a row before the lockout", lo=1, hi=20)
    lockout_s: int = _opt(
        300, "pages refuse every PIN this long after max_attempts", lo=10, hi=86400
    )
    pin_hold_s: float = _opt(
        5.0, "holding both buttons this long speaks the installer PIN", lo=2, hi=30
    )
    wireless_path: str = _opt("/proc/net/wireless", "where the Wi-Fi signal is read")
    host_names: str = _opt(
        "",
        "names the pages also answer to, comma-separated (e.g. pingan-hub.local); other "
        "names in a request's Host are refused (DNS rebinding)",
    )
    walk_test_s: int = _opt(
        1800,
        "a walk test ends by itself after this many seconds; until then alarms from its "
        "devices are sent flagged as tests",
        lo=60,
        hi=4 * 3600,
    )


@dataclass(frozen=True)
class ControlSection:
    """[control]"""

    socket: str = _opt("", "local control socket for the CLI; empty means <data_dir>/control.sock")


@dataclass(frozen=True)
class FleetSection:
    """[fleet]: who may push configuration to this hub."""

    public_keys: tuple[str, ...] = ()  # base64 Ed25519 public keys, from `pingan-hub keygen`
    groups: tuple[str, ...] = ()  # group names this hub answers to besides its own id
    rollback_after_s: float = 120.0  # no broker this long after a push: roll back


@dataclass(frozen=True)
class PowerSection:
    """[power]: the hub's own supply, from a UPS HAT."""

    source: str = _opt(
        "none",
        "mains presence from the UPS HAT's power-good GPIO, from /sys/class/power_supply, "
        "or not watched",
        choices=("none", "gpio", "sysfs"),
    )
    pin: int = _opt(6, "BCM pin of the HAT's power-loss signal (Geekworm X728: GPIO6)", lo=0, hi=53)
    lost_level: str = _opt(
        "high", "level of that pin while mains is lost (X728: high)", choices=("high", "low")
    )
    pull: str = _opt(
        "none",
        "pull resistor on that pin; none when the HAT drives it",
        choices=("none", "up", "down"),
    )
    sysfs_root: str = _opt("/sys/class/power_supply", "where the kernel lists power supplies")
    mains_supply: str = _opt(
        "", "supply whose `online` says mains is present; empty: the first of type Mains"
    )
    battery_supply: str = _opt(
        "", "supply whose `capacity` is the hub's battery %; empty: the first of type Battery"
    )
    # The UL-listed Essence profile requires an AC-loss report within 180 s: the bound
    # leaves 10 s to commit and send it. The 60 s default rides through utility reclosers
    # (which reclose within seconds to tens of seconds) and a nudged plug, and leaves two
    # minutes of the 180 s for the uplink's retries.
    ride_through_s: float = _opt(
        60.0,
        "mains must be gone this long before power_lost (flickers raise nothing); at most "
        "170 so the report is within the 180 s the UL-listed Essence profile requires",
        lo=0,
        hi=170,
    )
    poll_s: float = _opt(1.0, "seconds between looks at the UPS", lo=0.1, hi=10)
    battery_low_percent: int = _opt(
        20,
        "the hub's battery at or below this % sends battery_low (once per discharge)",
        lo=1,
        hi=99,
    )


@dataclass(frozen=True)
class HomeAssistantSection:
    """[homeassistant]: MQTT discovery for a family's Home Assistant (off by default)."""

    discovery: bool = _opt(False, "announce the hub to Home Assistant by MQTT discovery")
    prefix: str = _opt("homeassistant", "Home Assistant's discovery prefix")


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    hub: HubSection = field(default_factory=HubSection)
    mqtt: MqttSection = field(default_factory=MqttSection)
    outbox: OutboxSection = field(default_factory=OutboxSection)
    gpio: GpioSection = field(default_factory=GpioSection)
    sos: SosSection = field(default_factory=SosSection)
    control: ControlSection = field(default_factory=ControlSection)
    rflink: RflinkSection = field(default_factory=RflinkSection)
    ble: BleSection = field(default_factory=BleSection)
    voice: VoiceSection = field(default_factory=VoiceSection)
    health: HealthSection = field(default_factory=HealthSection)
    escalation: EscalationConfig = field(default_factory=EscalationConfig)
    care: CareConfig = field(default_factory=CareConfig)
    fleet: FleetSection = field(default_factory=FleetSection)
    modbus: ModbusConfig = field(default_factory=ModbusConfig)
    radar: RadarConfig = field(default_factory=RadarConfig)
    power: PowerSection = field(default_factory=PowerSection)
    homeassistant: HomeAssistantSection = field(default_factory=HomeAssistantSection)
    web: WebSection = field(default_factory=WebSection)

    @property
    def data_path(self) -> Path:
        """The data directory."""
        return Path(self.hub.data_dir)

    @property
    def control_socket(self) -> Path:
        """Where the control socket lives."""
        return Path(self.control.socket) if self.control.socket else self.data_path / "control.sock"

    @property
    def topic_root(self) -> str:
        """`{prefix}/{hub id}`."""
        return f"{self.mqtt.prefix}/{self.hub.id}"


class RunningConfig:
    """The configuration in force: the installer's file, or a fleet push merged over it.

    Every part of a running hub reads its options from `cfg` here when it needs them, so
    a push applied (or rolled back) is seen by all of them at once; `version` is the fleet
    config version in force (0: the installer's file alone).
    """

    def __init__(self, cfg: Config, version: int = 0) -> None:
        self.cfg = cfg
        self.version = version


_TYPES: dict[str, type] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "tuple[str, ...]": tuple,
}
_TYPE_NAMES = {
    int: "a whole number",
    float: "a number",
    str: "text",
    bool: "true or false",
    tuple: "a list of texts",
}
# Entries of a list option (mqtt.brokers): a cluster has a handful of nodes.
_MAX_LIST = 64


def _check_value(name: str, f: Any, value: Any) -> tuple[Any, str | None]:
    """Coerce and check one option; returns (value, problem or None)."""
    want = _TYPES[f.type] if isinstance(f.type, str) else f.type
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if want is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return value, f"{name}: must be {_TYPE_NAMES[tuple]}, got {value!r}"
        if len(value) > _MAX_LIST:
            return value, f"{name}: at most {_MAX_LIST} entries"
        return tuple(value), None
    if not isinstance(value, want) or (want is int and isinstance(value, bool)):
        return value, f"{name}: must be {_TYPE_NAMES[want]}, got {value!r}"
    if isinstance(value, float) and not math.isfinite(value):  # nan: no timer would ever fire
        return value, f"{name}: must be a finite number, got {value!r}"
    meta = f.metadata
    if meta["choices"] and value not in meta["choices"]:
        allowed = ", ".join(repr(c) for c in meta["choices"])
        return value, f"{name}: {value!r} is not allowed; use one of {allowed}"
    lo, hi = meta["lo"], meta["hi"]
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return value, f"{name}: {value!r} is out of range; allowed {lo} to {hi}"
    return value, None


def _section(cls: Any, name: str, raw: Any, problems: list[str]) -> Any:
    """Build one section from its TOML table, collecting problems."""
    if not isinstance(raw, dict):
        problems.append(f"[{name}]: must be a table")
        return cls()
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        f = known.get(key)
        if f is None:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {name}.{close[0]}?" if close else ""
            problems.append(f"{name}.{key}: unknown option{hint}")
            continue
        checked, problem = _check_value(f"{name}.{key}", f, value)
        if problem:
            problems.append(problem)
        else:
            values[key] = checked
    return cls(**values)


def _cross_checks(cfg: Config, problems: list[str]) -> None:
    """Rules that involve more than one option."""
    if not cfg.hub.id:
        problems.append('hub.id: required; set it to this hub\'s id, e.g. id = "GZ-000123"')
    elif not _HUB_ID.match(cfg.hub.id):
        problems.append(f"hub.id: {cfg.hub.id!r} may only use letters, digits, '-' and '_'")
    if (
        not _TOPIC_PREFIX.match(cfg.mqtt.prefix)
        or "//" in cfg.mqtt.prefix
        or cfg.mqtt.prefix.startswith("/")
        or cfg.mqtt.prefix.endswith("/")
    ):
        problems.append(
            f"mqtt.prefix: {cfg.mqtt.prefix!r} must be topic levels like 'pingan/v1' "
            "(no wildcards, no leading or trailing '/')"
        )
    try:
        ZoneInfo(cfg.hub.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            f"hub.timezone: {cfg.hub.timezone!r} is not a known IANA timezone, e.g. 'Asia/Shanghai'"
        )
    problems += check_brokers(cfg.mqtt, MqttSection.host)
    if cfg.mqtt.reconnect_min_s > cfg.mqtt.reconnect_max_s:
        problems.append("mqtt.reconnect_min_s: must not exceed mqtt.reconnect_max_s")
    if bool(cfg.mqtt.cert_file) != bool(cfg.mqtt.key_file):
        problems.append("mqtt.cert_file / mqtt.key_file: give both or neither")
    if (cfg.mqtt.ca_file or cfg.mqtt.cert_file) and not cfg.mqtt.tls:
        problems.append("mqtt.tls: set tls = true to use ca_file / cert_file")
    if bool(cfg.mqtt.password) and not cfg.mqtt.username:
        problems.append("mqtt.username: required when mqtt.password is set")
    pins = {
        "gpio.sos_pin": cfg.gpio.sos_pin,
        "gpio.ok_pin": cfg.gpio.ok_pin,
        "gpio.led_pin": cfg.gpio.led_pin,
        "gpio.buzzer_pin": cfg.gpio.buzzer_pin,
    }
    if cfg.power.source == "gpio":
        pins["power.pin"] = cfg.power.pin
    seen: dict[int, str] = {}
    for name, pin in pins.items():
        if pin in seen:
            problems.append(f"{name}: pin {pin} is already used by {seen[pin]}")
        seen[pin] = name
    problems += ble_problems(cfg.ble)
    if cfg.web.listen in ("0.0.0.0", "::", "*"):
        problems.append(
            f"web.listen: {cfg.web.listen!r} would serve the pages on every network the hub "
            "is on (cellular, VPN); give the LAN address, or leave it empty to use web.interface"
        )
    problems.extend(check_voice_config(cfg.voice))
    for name in filter(None, (n.strip() for n in cfg.web.host_names.split(","))):
        if not _HOST_NAME.match(name):
            problems.append(
                f"web.host_names: {name!r} is not a host name; give names like "
                "pingan-hub.local, separated by commas"
            )
    if cfg.sos.resend_s > cfg.sos.ack_timeout_s:
        problems.append(
            "sos.resend_s: must not exceed sos.ack_timeout_s, or the alarm is never "
            "resent before escalation"
        )
    ha_prefix = cfg.homeassistant.prefix
    if (
        not _TOPIC_PREFIX.match(ha_prefix)
        or "//" in ha_prefix
        or ha_prefix.startswith("/")
        or ha_prefix.endswith("/")
    ):
        problems.append(
            f"homeassistant.prefix: {ha_prefix!r} must be topic levels like 'homeassistant'"
        )


SECTIONS: dict[str, Any] = {
    f.name: f.default_factory for f in fields(Config) if f.default_factory is not MISSING
}


def parse_fleet(raw: Any) -> FleetSection:
    """Validate [fleet]; ConfigError names each bad option."""
    if not isinstance(raw, dict):
        raise ConfigError(["[fleet]: must be a table"])
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("public_keys", "groups"):
            if not isinstance(value, list) or not all(
                isinstance(v, str) and 0 < len(v) <= 100 for v in value
            ):
                problems.append(f"fleet.{key}: must be a list of short texts")
            else:
                values[key] = tuple(value)
        elif key == "rollback_after_s":
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (10 <= value <= 86400)
            ):
                problems.append("fleet.rollback_after_s: must be a number from 10 to 86400")
            else:
                values[key] = float(value)
        else:
            close = difflib.get_close_matches(key, ["public_keys", "groups", "rollback_after_s"])
            hint = f"; did you mean fleet.{close[0]}?" if close else ""
            problems.append(f"fleet.{key}: unknown option{hint}")
    if problems:
        raise ConfigError(problems)
    return FleetSection(**values)


_OWN_VALIDATORS: dict[str, Any] = {
    "escalation": parse_escalation,
    "care": parse_care_config,
    "fleet": parse_fleet,
    "modbus": parse_modbus,
    "radar": parse_radar,
}


def _canonical_devices(care: CareConfig) -> CareConfig:
    """The care options' device keys spelled as the sources report them (a wearable's
    address typed in lower case from its box must still be the elder's wearable)."""
    return replace(
        care,
        wearable_devices=tuple(canonical_key(k) for k in care.wearable_devices),
        checkin_devices=tuple(canonical_key(k) for k in care.checkin_devices),
        excluded_devices=tuple(canonical_key(k) for k in care.excluded_devices),
    )


def parse_config(raw: dict[str, Any]) -> Config:
    """Validate a TOML document into a Config; ConfigError lists every problem."""
    problems: list[str] = []
    sections: dict[str, Any] = {}
    for name, value in raw.items():
        cls = SECTIONS.get(name)
        if cls is None:
            close = difflib.get_close_matches(name, SECTIONS, n=1)
            hint = f"; did you mean [{close[0]}]?" if close else ""
            problems.append(f"[{name}]: unknown section{hint}")
            continue
        if name in _OWN_VALIDATORS:  # lists of tables: these sections validate themselves
            if not isinstance(value, dict):
                problems.append(f"[{name}]: must be a table")
                continue
            try:
                sections[name] = _OWN_VALIDATORS[name](value)
            except ConfigError as exc:
                problems += exc.problems
            continue
        sections[name] = _section(cls, name, value, problems)
    cfg = Config(**sections)
    cfg = replace(cfg, care=_canonical_devices(cfg.care))
    care_raw = raw.get("care")
    if (
        not isinstance(care_raw, dict) or "timezone" not in care_raw
    ):  # the care windows follow the hub's timezone
        cfg = replace(cfg, care=replace(cfg.care, timezone=cfg.hub.timezone))
    _cross_checks(cfg, problems)
    if problems:
        raise ConfigError(problems)
    return cfg


def load_config(path: Path) -> Config:
    """Read and validate a TOML file."""
    return parse_config(load_raw(path))


def load_raw(path: Path) -> dict[str, Any]:
    """Read a TOML file as a plain document (not validated)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError([f"{path}: file not found"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc
    return raw


def with_overrides(cfg: Config, **sections: dict[str, Any]) -> Config:
    """A copy of cfg with some options replaced (used by the demo and tests)."""
    return replace(
        cfg, **{name: replace(getattr(cfg, name), **vals) for name, vals in sections.items()}
    )

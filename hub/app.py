"""The hub: wires sources, the alarm lifecycle, the outbox and the uplink together.

Data flows one way (DESIGN.md): Reading -> Event draft -> outbox commit -> uplink.
Every event is committed before it is sent or announced as sent; the lifecycle's
actions (feedback, resend, escalation, persistence) are carried out here, because
this is the IO layer that owns the pins, the database and the connection.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub import __version__
from hub.ble_link import BleLink, locate_later, start_ble
from hub.clock import Clock, SystemClock
from hub.config import Config, RunningConfig
from hub.control import MAX_CLIENTS as CONTROL_CLIENTS
from hub.control import ControlServer
from hub.errors import DecodeError, HubError
from hub.event import KIND_PRIORITY, Draft, Event, Priority, Source, valid_kind
from hub.radar_link import start_radars
from hub.sensors.gpio import HubButtons, Indicators, make_pin_factory
from hub.sensors.radar_source import RadarSource
from hub.sensors.serial_source import SerialSource
from hub.sensors.signal import read_link
from hub.sensors.supervision import Notice, Supervisor
from hub.services.alarms import AlarmService, EscalationHook
from hub.services.archive import HealthArchive
from hub.services.care import CareService
from hub.services.committer import EventCommitter
from hub.services.devices import DeviceAdmin
from hub.services.family import FamilyEscalation
from hub.services.readings import ReadingPipeline
from hub.services.speech import SpeechService
from hub.services.voice import VoiceService
from hub.store.atomic import read_json, write_json_atomic
from hub.store.config_store import ConfigStore
from hub.store.health import VitalBuckets
from hub.store.outbox import AsyncOutbox, LoggedEvent
from hub.store.registry import Registry, registry_path
from hub.sync.commands import CentreTest, CommandGate, Verdict, command_id, parse_test
from hub.sync.config_push import confirm_push, receive_push
from hub.sync.homeassistant import HaState, HomeAssistantBridge
from hub.sync.ota import (
    ApplyGuard,
    ReportStatus,
    reported_payload,
    startup_config,
)
from hub.sync.uplink import Uplink
from hub.systemd import notify, watchdog_interval, watchdog_loop
from hub.tasks import Tasks
from hub.update.agent import UpdateAgent
from hub.voice.capture import AudioSource
from hub.web.limits import MAX_PER_ADDRESS, connection_cap, descriptor_limit

if TYPE_CHECKING:  # aiohttp is imported only when the pages are on
    from hub.web.server import WebServer

_LOGGER = logging.getLogger(__name__)

# How often the lifecycle timers are evaluated; resend/escalation timing is in
# seconds, so a one-second tick keeps them within a second of their target.
_TICK_S = 1.0
# Finished health-archive buckets are looked for this often.
_ARCHIVE_CHECK_S = 30.0
# Device supervision (offline detection, storm summaries) is evaluated this often.
_SUPERVISION_TICK_S = 5.0
# Home Assistant's state document is re-evaluated this often (published only on change);
# the last check-in is looked for among this many recent events at start.
_HA_REFRESH_S = 5.0
_HA_CHECKIN_LOOKBACK = 500
# When the family was last texted and called for a centre's full escalation test (at most
# once a day: hub/sync/commands.py), kept across restarts.
_COMMANDS_FILE = "commands.json"
# Test alarms the centre raises carry this as raised_by (at most one open at a time).
_CENTRE_TEST = "cmd/test"
# The commands the centre may send (docs/asyncapi.yaml).
_COMMANDS = ("test", "speak", "locate", "callback", "update")
# Below this many descriptors left for the alarm path after the pages' and the control
# socket's share, the start-up line is a warning (a LimitNOFILE set too low).
_MIN_RESERVE_FDS = 256


def _open_descriptors() -> int:
    """File descriptors this process holds now (Linux /proc; 0 where there is none)."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less the one listing it
    except OSError:
        return 0


def _iso(ts: datetime) -> str:
    """UTC ISO 8601 with a Z, as events carry it."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Hub:
    """One running hub."""

    def __init__(
        self,
        cfg: Config,
        *,
        clock: Clock | None = None,
        pin_factory: Any = None,
        escalation: EscalationHook | None = None,
        local_raw: dict[str, Any] | None = None,
        player: Callable[[Sequence[str]], None] | None = None,
        audio_source: AudioSource | None = None,
    ) -> None:
        self.running = RunningConfig(cfg)
        # The installer's TOML document: fleet pushes are merged over it.
        self.local_raw: dict[str, Any] = local_raw if local_raw is not None else {}
        self.fleet_store = ConfigStore(cfg.data_path)
        self.guard = ApplyGuard(cfg.fleet.rollback_after_s)
        self._player = player
        self._audio_source = audio_source
        self._fleet_lock = asyncio.Lock()
        self.clock = clock or SystemClock()
        self.pin_factory = pin_factory
        self._escalation = escalation
        self.started_at = time.monotonic()
        self.outbox: AsyncOutbox
        self.uplink: Uplink
        self.buttons: HubButtons
        self.indicators: Indicators
        self._control: ControlServer | None = None
        self.tasks = Tasks()  # every running part, supervised
        self._stopped = asyncio.Event()
        self.ups: Any = None  # hub.sensors.ups.UpsMonitor when [power] watches a UPS HAT
        self.ble: BleLink | None = None
        self.radars: dict[str, RadarSource] = {}  # by device key; the pages show them live
        self.homeassistant: HomeAssistantBridge | None = None
        self.last_checkin: str | None = None  # ts of the last check-in event (for HA)
        # The installer and family pages (hub/web), when [web] enabled.
        self.web: WebServer | None = None
        # The centre's commands: ids seen, the last full escalation test (loaded at start).
        self.commands = CommandGate()
        self._centre_test_starting = False  # a cmd/test alarm being raised right now

    @property
    def cfg(self) -> Config:
        """The configuration in force (a fleet push changes it while the hub runs)."""
        return self.running.cfg

    # -- start and stop -------------------------------------------------------------

    async def start(self) -> None:
        """Open storage, restore open alarms, start every part; returns once running."""
        await self._start_fleet_config()
        cfg = self.cfg
        self.outbox = await AsyncOutbox.open(
            cfg.data_path / "hub.db", cfg.hub.id, cfg.outbox.max_bytes, cfg.outbox.log_keep
        )
        self.events = EventCommitter(self.outbox, self.clock, self.tasks)
        self.speech = SpeechService(
            self.running, self.tasks, monotonic=self.clock.monotonic, player=self._player
        )
        self.events.when_committed.append(self._committed)
        self.registry = await asyncio.to_thread(Registry, registry_path(cfg.data_path), self.clock)
        saved_commands = await asyncio.to_thread(read_json, cfg.data_path / _COMMANDS_FILE)
        if isinstance(saved_commands, dict) and isinstance(
            saved_commands.get("family_test_at"), (int, float)
        ):
            self.commands.last_family_test = float(saved_commands["family_test_at"])
        self.supervisor = Supervisor()
        self.vitals = VitalBuckets(cfg.health.bucket_s)
        for device in self.registry.devices():
            self.supervisor.expect(device.key, device.kind, self.clock.monotonic())
            if device.supervision_s:
                self.supervisor.set_interval(device.key, device.supervision_s)
        if self.pin_factory is None:
            self.pin_factory = make_pin_factory(cfg.gpio.pin_factory)
        self.buttons = HubButtons(cfg.gpio, cfg.sos, self.pin_factory, self.clock)
        self.indicators = Indicators(cfg.gpio, self.pin_factory)
        self.family = FamilyEscalation(
            self.running,
            self.clock,
            self.tasks,
            events=self.events,
            outbox=self.outbox,
            indicators=self.indicators,
            speech=self.speech,
        )
        await self.family.start()
        self.uplink = Uplink(
            cfg,
            self.outbox,
            on_sent=self._on_sent,
            on_ack=lambda ack: self.alarms.acked(ack),  # noqa: PLW0108 - the alarm service is made below
            on_command=self._on_command,
            on_config=self._on_config,
            on_connected=self._on_uplink_connected,
            monotonic=self.clock.monotonic,
            status_payload=self.heartbeat,
        )
        self.updates = UpdateAgent(cfg, publish=self.uplink.publish_retained, now=self.clock.now)
        self.alarms = AlarmService(
            self.running,
            self.clock,
            self.tasks,
            events=self.events,
            outbox=self.outbox,
            uplink=self.uplink,
            indicators=self.indicators,
            speech=self.speech,
            family=self.family,
            escalation=self._escalation,
            presence=lambda: self.ble.last_presence() if self.ble is not None else [],
        )
        await self.alarms.restore()
        self.events.when_committed.append(self.alarms.committed)
        self.care = CareService(
            self.running,
            self.clock,
            registry=self.registry,
            alarms=self.alarms,
            events=self.events,
            indicators=self.indicators,
            speech=self.speech,
        )
        await self.care.start()
        self.voice = VoiceService(
            self.running,
            self.clock,
            self.tasks,
            alarms=self.alarms,
            care=self.care,
            events=self.events,
            speech=self.speech,
            audio_source=self._audio_source,
        )
        self.readings = ReadingPipeline(
            self.clock,
            registry=self.registry,
            supervisor=self.supervisor,
            vitals=self.vitals,
            alarms=self.alarms,
            care=self.care,
            events=self.events,
            voice=self.voice,
            buttons=self.buttons,
        )
        self.archive = HealthArchive(
            self.running, self.clock, vitals=self.vitals, outbox=self.outbox, events=self.events
        )
        self.devices = DeviceAdmin(
            self.running,
            self.clock,
            registry=self.registry,
            supervisor=self.supervisor,
            care=self.care,
        )
        if cfg.homeassistant.discovery:
            await self._start_homeassistant()
        debug_ops: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "press": self._op_press,
            "inject": self._op_inject,
            "block-loop": self._op_block_loop,
        }
        if cfg.gpio.pin_factory != "mock":  # not a simulation: refused, with the reason
            debug_ops = {op: self._simulation_only(op) for op in debug_ops}
        self._control = ControlServer(
            cfg.control_socket,
            {
                "status": lambda _req: self.status(),
                "events": self._op_events,
                "test-alarm": self._op_test_alarm,
                **debug_ops,
                "devices": lambda _req: self.devices.listing(),
                "health": lambda req: self.archive.query(req.get("days", 1)),
                "pair": self._op_pair,
                "remove": self._op_remove,
                "rename": self._op_rename,
                "pin": self._op_pin,
                "voice-enrol": lambda req: self.voice.enrol(req.get("phrase")),
            },
        )
        await self._control.start()
        if cfg.web.enabled:  # aiohttp is imported only here (resident memory)
            from hub.web.server import WebServer

            self.web = WebServer(self)
            await self.web.start()
        self.tasks.supervise("uplink", self.uplink.run)
        self.tasks.supervise("updates", self.updates.run)
        self.tasks.supervise("held-events", self.events.held.run)
        self.tasks.supervise("buttons", self.readings.consume_buttons)
        self.tasks.supervise("timers", self._tick_forever)
        self.tasks.supervise("alarm-records", self.alarms.persist_forever)
        self.tasks.supervise("care", self.care.run)
        if cfg.voice.prompts:
            self.speech.start()
        if cfg.voice.listen:
            await self.voice.start()
        self.tasks.supervise("supervision", self.readings.supervise_forever)
        self.tasks.supervise("health-archive", self.archive.run)
        if cfg.rflink.port:
            rf = SerialSource(cfg.rflink.port, baudrate=cfg.rflink.baudrate)
            self.tasks.supervise("rflink", lambda: self.readings.consume(rf.readings()))
        if cfg.modbus.port:
            self._start_modbus()
        if cfg.radar.devices:
            self.radars = start_radars(
                cfg.radar.devices,
                clock=self.clock,
                registry=self.registry,
                tasks=self.tasks,
                readings=self.readings,
            )
        if cfg.power.source != "none":
            self._start_power()
        if cfg.ble.enabled:
            self.ble = start_ble(self)
        self._log_descriptor_budget()
        interval = watchdog_interval()
        if interval:
            self.tasks.supervise("watchdog", lambda: watchdog_loop(interval))
        notify("READY=1")
        _LOGGER.info("hub %s started (pingan-hub %s)", cfg.hub.id, __version__)

    def _log_descriptor_budget(self) -> None:
        """Say how the process's file descriptors are shared (README, "Resource limits")."""
        nofile = descriptor_limit()
        pages = connection_cap(nofile) if self.cfg.web.enabled else 0
        reserve = nofile - pages - CONTROL_CLIENTS - 1 - _open_descriptors()
        log = _LOGGER.info if reserve >= _MIN_RESERVE_FDS else _LOGGER.warning
        log(
            "file descriptors: %d; the pages may hold %d (%d per address), the control "
            "socket %d; %d left for the alarm path",
            nofile,
            pages,
            MAX_PER_ADDRESS,
            CONTROL_CLIENTS,
            reserve,
        )

    async def stop(self) -> None:
        """Stop every part and close storage (committed events stay on disk); idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        notify("STOPPING=1")
        self.uplink.stopping = True
        self.speech.close()  # espeak-ng and aplay end with the hub, now
        await self.tasks.cancel_all()
        await self.readings.flush()  # a chattering door's count, not lost with the process
        await self.events.close()  # the disk may answer again: a last try
        await self.alarms.persist_now()  # what changed in the last moment before stopping
        await self.archive.archive_now(everything=True)
        await self.care.save()
        await self.uplink.flush_marks_now()
        if self._control:
            await self._control.close()
        if self.web is not None:
            await self.web.stop()
        await self.family.close()
        await asyncio.to_thread(self.registry.close)
        self.voice.close()
        self.buttons.close()
        self.indicators.close()
        if self.ups is not None:
            self.ups.close()
        await self.outbox.close()

    async def run(self) -> None:
        """Start and run until cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    # -- events and alarms ----------------------------------------------------------

    def _committed(self, event: Event) -> None:
        if event.kind == "checkin":
            self.last_checkin = _iso(event.ts)
            self._ha_refresh()

    def _on_sent(self, event: Event) -> None:
        self.events.sent(event)
        self.alarms.sent(event)

    def _on_command(self, name: str, args: dict[str, Any]) -> None:
        """A command from the centre (never a retained one: the uplink drops those); one
        with an id is obeyed once per id."""
        if name not in _COMMANDS:
            _LOGGER.warning("unknown command %r ignored", name[:100])
            return
        try:
            test = parse_test(args) if name == "test" else None
            ident = command_id(args)
        except DecodeError as exc:
            _LOGGER.warning("cmd/%s ignored: %s", name, exc)
            return
        if not self.commands.first_time(name, ident):
            _LOGGER.info("cmd/%s %r already obeyed: the repeat is ignored", name[:40], ident)
            return
        if test is not None:
            self._centre_test(test)
        elif name == "speak":
            text = args.get("text")
            if not isinstance(text, str):
                _LOGGER.warning("cmd/speak without a text ignored")
            else:
                self.speech.say_centre(text)
        elif name == "locate":
            self.tasks.spawn(locate_later(self.ble, args), "cmd-locate")
        elif name == "update":
            self.updates.on_command(args)
        elif name == "callback":
            # This arrives with the modem issue.
            _LOGGER.info("command %r not supported yet; ignored", name)

    def _centre_test(self, command: CentreTest) -> None:
        """Raise the centre's test alarm, unless one is still open; the family only for a
        full escalation test, at most once a day."""
        test_open = self._centre_test_starting or any(
            a.is_open and a.raised_by == _CENTRE_TEST for a in self.alarms.book.alarms.values()
        )
        verdict = self.commands.judge_test(
            command, test_open=test_open, now=self.clock.now().timestamp()
        )
        if verdict is Verdict.BUSY:
            _LOGGER.warning("cmd/test %r ignored: the last test alarm is still open", command.id)
            return
        if verdict is Verdict.RAISE_WITHOUT_FAMILY:
            _LOGGER.warning(
                "cmd/test %r: the family was already part of a test in the last 24 h; "
                "this test alarm does not text or call them",
                command.id,
            )
        with_family = verdict is Verdict.RAISE_WITH_FAMILY
        self._centre_test_starting = True
        self.tasks.spawn(self._raise_centre_test(command.id, with_family), "cmd-test")

    async def _raise_centre_test(self, command: str, with_family: bool) -> None:
        try:
            if with_family:  # remembered first: a restart must not allow a second one today
                try:
                    await asyncio.to_thread(
                        write_json_atomic,
                        self.cfg.data_path / _COMMANDS_FILE,
                        {"family_test_at": self.commands.last_family_test},
                    )
                except OSError as exc:
                    _LOGGER.error("full escalation test not remembered on disk: %s", exc)
            await self.alarms.raise_alarm(
                "sos",
                test=True,
                data={"command_id": command, "escalation_test": with_family},
                source=Source("cloud", name="centre test", protocol="mqtt"),
                raised_by=_CENTRE_TEST,
            )
        finally:
            self._centre_test_starting = False

    async def _tick_forever(self) -> None:
        while True:
            now = self.clock.monotonic()
            self.alarms.tick(now)
            await self.voice.tick()
            rollback = self.guard.tick(now)
            if rollback is not None:
                await self._roll_back(rollback.version)
            self.alarms.forget_closed(now)
            await asyncio.sleep(_TICK_S)

    # -- fleet configuration ------------------------------------------------------

    async def _start_fleet_config(self) -> None:
        """Start on the last applied fleet config when it still validates (else the last
        good one, else the local file), and put an unconfirmed one back on trial."""
        if not self.local_raw:
            return
        state = await asyncio.to_thread(self.fleet_store.load)
        if not state.applied.version and not state.last_good.version:
            return
        version, cfg, skipped = startup_config(
            self.local_raw,
            [
                (state.applied.version, state.applied.overlay),
                (state.last_good.version, state.last_good.overlay),
            ],
        )
        for problem in skipped:
            _LOGGER.error("%s", problem)
        self._use_config(cfg, version)
        if version and not state.applied.confirmed:
            self.guard.on_applied(version, self.clock.monotonic())

    def _use_config(self, cfg: Config, version: int) -> None:
        """Make `cfg` the running config, without dropping or delaying anything in flight."""
        if self.ble is not None and cfg.ble != self.cfg.ble:
            _LOGGER.warning("[ble] changed: the scanner keeps its settings until the hub restarts")
        self.running.cfg = cfg
        self.running.version = version
        self.guard.rollback_after_s = cfg.fleet.rollback_after_s
        if hasattr(self, "outbox"):  # running: hot-apply to the live parts
            self.alarms.reconfigure(cfg)
            self.outbox.sync.max_bytes = cfg.outbox.max_bytes
            self.family.escalator.cfg = cfg.escalation
            self.care.reconfigure(cfg)
            self.uplink.reconfigure(cfg)

    def _on_config(self, raw: bytes) -> None:
        self.tasks.spawn(self._apply_config(raw), "fleet-config")

    async def _apply_config(self, raw: bytes) -> None:
        """Judge a signed push; apply it atomically and report, or report why not."""
        async with self._fleet_lock:  # one push at a time, and never beside a confirm
            await self._apply_config_locked(raw)

    async def _apply_config_locked(self, raw: bytes) -> None:
        accepted, report = await receive_push(
            self.fleet_store, raw, self.cfg, self.local_raw, self.clock
        )
        if accepted is None:
            if report is not None:
                self.uplink.report(report)
            return
        same_broker = (
            accepted.config.mqtt == self.cfg.mqtt
            and accepted.config.topic_root == self.cfg.topic_root
        )
        self._use_config(accepted.config, accepted.version)
        _LOGGER.info("fleet config version %d applied", accepted.version)
        await self.events.commit(
            Draft.create("config_applied", self.clock, data={"version": accepted.version})
        )
        self.guard.on_applied(accepted.version, self.clock.monotonic())
        # Same broker: the trial passes at once. A new broker must prove itself by a new
        # connection; the old one may still look connected for a moment after the switch,
        # and taking that as proof would confirm a push to an unreachable broker.
        if same_broker and self.uplink.state.connected:
            self._on_uplink_connected()

    def _on_uplink_connected(self) -> None:
        self.updates.on_connected()
        if self.homeassistant is not None:
            self.homeassistant.on_connected(self._ha_state())
        version = self.guard.on_connected(self.clock.monotonic())
        if version is not None:
            self.tasks.spawn(self._confirm_config(version), "fleet-confirm")

    async def _confirm_config(self, version: int) -> None:
        async with self._fleet_lock:
            await confirm_push(self.fleet_store, version)
        self.uplink.report(reported_payload(version, ReportStatus.APPLIED, self.clock.now()))

    async def _roll_back(self, version: int) -> None:
        """The pushed config left the hub without a broker: back to the last good one."""
        async with self._fleet_lock:
            state = await asyncio.to_thread(self.fleet_store.roll_back)
        _, cfg, _ = startup_config(
            self.local_raw, [(state.last_good.version, state.last_good.overlay)]
        )
        _LOGGER.error("fleet config version %d rolled back: no broker connection", version)
        self._use_config(cfg, state.last_good.version)
        self.uplink.report(
            reported_payload(
                version,
                ReportStatus.ROLLED_BACK,
                self.clock.now(),
                message=f"no broker connection within {self.guard.rollback_after_s:.0f} s",
            )
        )

    # -- Home Assistant discovery (optional) ---------------------------------------

    async def _start_homeassistant(self) -> None:
        for row in await self.outbox.recent(_HA_CHECKIN_LOOKBACK):  # newest first
            if row.event.kind == "checkin":
                self.last_checkin = _iso(row.event.ts)
                break
        self.homeassistant = HomeAssistantBridge(
            self.cfg.homeassistant.prefix,
            self.cfg.topic_root,
            self.cfg.hub.id,
            __version__,
            self.uplink.publish_retained,
        )
        self.alarms.listeners.append(lambda _alarm: self._ha_refresh())
        self.tasks.supervise("homeassistant", self._homeassistant_forever)

    def _ha_state(self) -> HaState:
        open_alarms = sorted(
            (a for a in self.alarms.book.alarms.values() if a.is_open), key=lambda a: a.raised_at
        )
        devices = self.registry.devices()
        levels = [d.battery for d in devices if d.battery is not None]
        health = self.devices.health()
        return HaState(
            open_alarms=len(open_alarms),
            alarm=open_alarms[-1].state.value if open_alarms else "none",
            last_checkin=self.last_checkin,
            devices_offline=health["offline"],
            devices_low_battery=health["low_battery"],
            battery_min=min(levels) if levels else None,
        )

    def _ha_refresh(self) -> None:
        if self.homeassistant is not None:
            self.homeassistant.update(self._ha_state())

    async def _homeassistant_forever(self) -> None:
        while True:  # check-ins and device health change without an alarm listener call
            await asyncio.sleep(_HA_REFRESH_S)
            self._ha_refresh()

    # -- paired devices -----------------------------------------------------------

    def _start_power(self) -> None:
        """Watch the UPS HAT ([power]): power_lost after the ride-through, power_restored,
        battery_low for the hub's own battery."""
        from hub.sensors.ups import UpsMonitor

        self.ups = UpsMonitor(
            self.cfg.power,
            pin_factory=self.pin_factory,
            monotonic=self.clock.monotonic,
            state_path=self.cfg.data_path / "power.json",
            wall=lambda: self.clock.now().timestamp(),
        )
        source = Source("hub:power", name="主机电源", protocol=self.cfg.power.source)

        async def report() -> None:
            async for notice in self.ups.notices():
                _LOGGER.warning("hub power: %s %s", notice.kind, notice.data)
                src = replace(source, device=notice.device)

                async def remember(_event: Event, notice: Notice = notice) -> None:
                    await self.ups.remember(notice)  # a restart mid-outage does not repeat it

                # A refused report is held and stored later (then remembered): the state
                # machine has already moved on, so it must not be lost here.
                await self.events.commit_or_hold(
                    Draft.create(notice.kind, self.clock, data=notice.data, source=src),
                    then=remember,
                )

        self.tasks.supervise("power", report)

    def _start_modbus(self) -> None:
        """Poll the RS-485 detectors ([modbus]); pymodbus is imported only when one is set."""
        from hub.sensors.modbus_source import ModbusSource

        bus = ModbusSource(
            self.cfg.modbus,
            on_silent=self.readings.polled_device_silent,
            monotonic=self.clock.monotonic,
        )
        for det in self.cfg.modbus.detectors:
            if self.registry.get(det.key(bus.cfg.port)) is None:
                _LOGGER.warning(
                    "modbus unit %d is not paired: its readings wait in the pairing inbox "
                    "and raise no alarm (pingan-hub devices pair %s --kind %s)",
                    det.unit,
                    det.key(bus.cfg.port),
                    det.kind,
                )
        self.tasks.supervise("modbus", lambda: self.readings.consume(bus.readings()))

    # -- what the CLI and the heartbeat see ---------------------------------------

    async def heartbeat(self) -> dict[str, Any]:
        """The retained status payload's fields."""
        depth = await self.outbox.depth()
        return {
            "ts": self.clock.now().isoformat().replace("+00:00", "Z"),
            "version": __version__,
            "config_version": self.running.version,
            "uptime_s": round(time.monotonic() - self.started_at),
            "outbox": {str(k): v for k, v in depth.items()},
            "open_alarms": sum(1 for a in self.alarms.book.alarms.values() if a.is_open),
            "devices": self.devices.health(),
            "signal": await self.link_signal(),
        }

    async def link_signal(self) -> dict[str, Any]:
        """Uplink kind, Wi-Fi and modem signal (the modem's last reading: never waits on it)."""
        # Two small procfs files, made by the kernel on read (no disk IO): read in place,
        # so the heartbeat adds no await point to the uplink's connect path.
        link = read_link(Path(self.cfg.web.wireless_path))
        modem = self.family.modem
        if modem is not None and modem.is_open:
            self.tasks.spawn(self.family.signal(), "modem-signal")  # fresh for the next heartbeat
        return {
            "uplink": link.uplink,
            "wifi_rssi_dbm": link.wifi.level_dbm if link.wifi else None,
            "modem_rssi_dbm": self.family.modem_rssi_dbm,
        }

    async def _op_pin(self, request: dict[str, Any]) -> dict[str, Any]:
        """The installer's one-time PIN (or the family PIN) for the pages."""
        if self.web is None:
            raise HubError("the web pages are off: set [web] enabled = true and restart the hub")
        result: dict[str, Any] = await self.web.pin_op(
            family=bool(request.get("family")), new=bool(request.get("new"))
        )
        return result

    async def status(self) -> dict[str, Any]:
        """Everything `pingan-hub status` shows."""
        up = self.uplink.state
        depth = await self.outbox.depth()
        now = self.clock.monotonic()
        return {
            "hub": self.cfg.hub.id,
            "version": __version__,
            "uptime_s": round(time.monotonic() - self.started_at),
            "clock_synced": self.clock.synced(),
            "fds": {"open": _open_descriptors(), "limit": descriptor_limit()},
            "uplink": {
                "connected": up.connected,
                "protocol": up.protocol,
                "broker": f"{self.cfg.mqtt.host}:{self.cfg.mqtt.port}",
                "connected_since": up.connected_since,
                "last_heartbeat": up.last_heartbeat,
                "last_error": up.last_error,
                "published": up.published,
            },
            "devices": self.devices.health(),
            "power": self.ups.status() if self.ups is not None else None,
            **({"ble": self.ble.status()} if self.ble is not None else {}),
            "outbox": {
                "depth": {str(k): v for k, v in depth.items()},
                "pending_bytes": self.outbox.sync.pending_bytes,
                "last_seq": await self.outbox.last_seq(),
                "held": self.events.held.kinds(),  # refused by the disk, waiting in memory
            },
            "alarms": [
                {
                    "id": a.id,
                    "kind": a.kind,
                    "state": a.state.value,
                    "seq": a.seq,
                    "test": a.test,
                    "escalated": a.escalated,
                    "operator": a.operator,
                    "note": a.note,
                    "age_s": round(now - a.raised_at),
                }
                for a in sorted(self.alarms.book.alarms.values(), key=lambda a: a.raised_at)
            ],
        }

    async def _op_events(self, request: dict[str, Any]) -> dict[str, Any]:
        last = request.get("last", 20)
        if not isinstance(last, int) or not 1 <= last <= 10_000:
            raise HubError("last must be a whole number from 1 to 10000")
        rows = await self.outbox.recent(last)

        def sent_at(row: LoggedEvent) -> str | None:
            published = self.uplink.published_at(row.event.id)
            return row.sent_at or (published.isoformat() if published else None)

        return {"events": [{**row.event.to_dict(), "sent_at": sent_at(row)} for row in rows]}

    async def _op_test_alarm(self, _request: dict[str, Any]) -> dict[str, Any]:
        return await self.alarms.test_alarm()

    async def _op_pair(self, request: dict[str, Any]) -> dict[str, Any]:
        device = await self.devices.pair(
            request.get("key"),
            request.get("kind"),
            request.get("name", ""),
            request.get("room", ""),
            body_worn=request.get("body_worn", False),
        )
        return {"device": asdict(device)}

    async def _op_remove(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"removed": await self.devices.remove(request.get("key"))}

    async def _op_rename(self, request: dict[str, Any]) -> dict[str, Any]:
        key, name, room = request.get("key"), request.get("name"), request.get("room")
        return {"device": asdict(await self.devices.rename(key, name, room))}

    def _require_simulation(self, op: str) -> None:
        from gpiozero.pins.mock import MockFactory

        if self.cfg.gpio.pin_factory != "mock" or not isinstance(self.pin_factory, MockFactory):
            raise HubError(f'{op} works only in simulation (gpio.pin_factory = "mock")')

    @staticmethod
    def _simulation_only(op: str) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
        """A control op that exists only in simulation (demo, tests, the power-cut harness):
        on a real hub it is refused before anything runs (freezing the loop, committing a
        made-up alarm or pressing a pin is no operation for a hub in a home)."""

        async def refuse(_request: dict[str, Any]) -> dict[str, Any]:
            raise HubError(f'{op} works only in simulation (gpio.pin_factory = "mock")')

        return refuse

    async def _op_inject(self, request: dict[str, Any]) -> dict[str, Any]:
        """Commit a simulated device event (simulation only: demo, tests, power-cut harness)."""
        self._require_simulation("inject")
        kind, data = request.get("kind"), request.get("data", {})
        if not isinstance(kind, str) or not valid_kind(kind) or not isinstance(data, dict):
            raise HubError("inject needs kind (lower-case letters, digits, _) and data (object)")
        source = Source("sim", protocol="sim")
        if KIND_PRIORITY.get(kind) is Priority.ALARM:
            event = await self.alarms.raise_alarm(kind, data=data, source=source)
            if event is None:
                raise HubError("the alarm could not be stored")
        else:
            event = await self.events.commit(
                Draft.create(kind, self.clock, data=data, source=source)
            )
        return {"id": event.id, "seq": event.seq}

    async def _op_block_loop(self, request: dict[str, Any]) -> dict[str, Any]:
        """Freeze the event loop on purpose (simulation only): proves the watchdog bites."""
        self._require_simulation("block-loop")
        seconds = request.get("seconds", 1.0)
        if not isinstance(seconds, (int, float)) or not 0 < seconds <= 60:
            raise HubError("seconds must be a number from 0 to 60")
        time.sleep(seconds)  # noqa: ASYNC251 - blocking is the point of this operation
        return {"blocked_s": seconds}

    async def _op_press(self, request: dict[str, Any]) -> dict[str, Any]:
        """Simulated press of a mock-pin button (demo and tests only)."""
        self._require_simulation("press")
        button = {"sos": self.cfg.gpio.sos_pin, "ok": self.cfg.gpio.ok_pin}.get(
            str(request.get("button", "sos"))
        )
        hold = request.get("hold_s", 0.2)
        if button is None or not isinstance(hold, (int, float)) or not 0 <= hold <= 30:
            raise HubError("button must be 'sos' or 'ok' and hold_s 0 to 30")
        pin = self.pin_factory.pin(button)
        pin.drive_low()
        await asyncio.sleep(hold)
        pin.drive_high()
        return {"pressed": request.get("button", "sos"), "hold_s": hold}

"""The hub: builds its rooms from the config, starts them in order, stops them in reverse.

Data flows one way (DESIGN.md): Reading -> Event draft -> outbox commit -> uplink. Each
concern lives in its own room (hub/services/*, README "Layout"); this module only wires
them together and keeps their parts running (hub/tasks.py). Nothing below imports it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from hub import __version__
from hub.ble_link import BleLink, locate_later, start_ble
from hub.clock import Clock, SystemClock
from hub.config import Config, RunningConfig
from hub.control import ControlServer
from hub.event import Event
from hub.modbus_link import start_modbus
from hub.radar_link import start_radars
from hub.sensors.gpio import HubButtons, Indicators, make_pin_factory
from hub.sensors.radar_source import RadarSource
from hub.sensors.serial_source import SerialSource
from hub.sensors.supervision import Supervisor
from hub.services.alarms import AlarmService, EscalationHook
from hub.services.archive import HealthArchive
from hub.services.care import CareService
from hub.services.centre import CentreCommands
from hub.services.committer import EventCommitter
from hub.services.control_ops import ControlOperations
from hub.services.devices import DeviceAdmin
from hub.services.family import FamilyEscalation
from hub.services.fleet import FleetConfigApplier
from hub.services.homeassistant import HomeAssistantLink
from hub.services.power import PowerWatch
from hub.services.readings import ReadingPipeline
from hub.services.speech import SpeechService
from hub.services.status import StatusReport, log_descriptor_budget
from hub.services.voice import VoiceService
from hub.services.weekly import WeeklySummary
from hub.store.health import VitalBuckets
from hub.store.outbox import AsyncOutbox
from hub.store.registry import Registry, registry_path
from hub.sync.uplink import Uplink
from hub.systemd import notify, watchdog_interval, watchdog_loop
from hub.tasks import Tasks
from hub.update.agent import UpdateAgent
from hub.voice.capture import AudioSource

if TYPE_CHECKING:  # aiohttp is imported only when the pages are on
    from hub.web.server import WebServer

_LOGGER = logging.getLogger(__name__)

# How often the lifecycle timers are evaluated; resend/escalation timing is in
# seconds, so a one-second tick keeps them within a second of their target.
_TICK_S = 1.0


class Hub:
    """One running hub: its rooms, built from the config and started in order."""

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
        self.clock = clock or SystemClock()
        self.tasks = Tasks()  # every running part, supervised
        # The installer's TOML document (local_raw): fleet pushes are merged over it.
        self.fleet = FleetConfigApplier(self.running, self.clock, self.tasks, local_raw or {})
        self.pin_factory = pin_factory
        self._escalation = escalation
        self._player = player
        self._audio_source = audio_source
        self._stopped = asyncio.Event()
        self._control: ControlServer | None = None
        self.ble: BleLink | None = None
        self.radars: dict[str, RadarSource] = {}  # by device key; the pages show them live
        self.homeassistant: HomeAssistantLink | None = None
        self.web: WebServer | None = None  # the installer and family pages, when [web] on

    @property
    def cfg(self) -> Config:
        """The configuration in force (a fleet push changes it while the hub runs)."""
        return self.running.cfg

    async def start(self) -> None:
        """Open storage, restore open alarms, start every part; returns once running."""
        await self.fleet.load()
        # Each room is handed the rooms it calls (README, "Layout"); the calls are kept
        # compact (fmt: skip) so the wiring reads as one table.
        cfg, running, clock, tasks = self.cfg, self.running, self.clock, self.tasks
        self.outbox = await AsyncOutbox.open(
            cfg.data_path / "hub.db", cfg.hub.id, cfg.outbox.max_bytes, cfg.outbox.log_keep
        )
        self.events = EventCommitter(self.outbox, clock, tasks, cfg.outbox.telemetry_group_s)
        self.speech = SpeechService(running, tasks, monotonic=clock.monotonic, player=self._player)
        live = await self.outbox.load_live()  # last seen, battery, last state (riders.py)
        self.registry = await asyncio.to_thread(
            lambda: Registry(
                registry_path(cfg.data_path), clock, riders=self.outbox.sync.riders, live=live
            )
        )
        self.supervisor = Supervisor()
        self.vitals = VitalBuckets(cfg.health.bucket_s)
        for device in self.registry.devices():
            self.supervisor.expect(device.key, device.kind, clock.monotonic())
            if device.supervision_s:
                self.supervisor.set_interval(device.key, device.supervision_s)
        if self.pin_factory is None:
            self.pin_factory = make_pin_factory(cfg.gpio.pin_factory)
        self.buttons = HubButtons(cfg.gpio, cfg.sos, self.pin_factory, clock)
        self.indicators = Indicators(cfg.gpio, self.pin_factory)
        self.family = FamilyEscalation(
            running, clock, tasks, events=self.events, outbox=self.outbox,
            indicators=self.indicators, speech=self.speech,
        )  # fmt: skip
        await self.family.start()
        # The rooms made below are reached through lambdas: the uplink comes first.
        self.uplink = Uplink(
            cfg,
            self.outbox,
            on_sent=self._on_sent,
            on_ack=lambda ack: self.alarms.acked(ack),  # noqa: PLW0108
            on_command=lambda name, args: self.centre.on_command(name, args),  # noqa: PLW0108
            on_config=self.fleet.on_push,
            on_connected=self._on_uplink_connected,
            monotonic=clock.monotonic,
            status_payload=lambda: self.report.heartbeat(),  # noqa: PLW0108
        )
        self.fleet.connect(self.uplink, self.events)
        self.updates = UpdateAgent(cfg, publish=self.uplink.publish_retained, now=clock.now)
        self.alarms = AlarmService(
            running, clock, tasks, events=self.events, outbox=self.outbox, uplink=self.uplink,
            indicators=self.indicators, speech=self.speech, family=self.family,
            escalation=self._escalation,
            presence=lambda: self.ble.last_presence() if self.ble is not None else [],
        )  # fmt: skip
        await self.alarms.restore()
        self.events.when_committed.append(self.alarms.committed)
        self.care = CareService(
            running, clock, registry=self.registry, alarms=self.alarms, events=self.events,
            indicators=self.indicators, speech=self.speech,
        )  # fmt: skip
        await self.care.start()
        self.events.when_committed.append(self.care.committed)
        self.voice = VoiceService(
            running, clock, tasks, alarms=self.alarms, care=self.care, events=self.events,
            speech=self.speech, audio_source=self._audio_source,
        )  # fmt: skip
        self.readings = ReadingPipeline(
            clock, registry=self.registry, supervisor=self.supervisor, vitals=self.vitals,
            alarms=self.alarms, care=self.care, events=self.events, voice=self.voice,
            buttons=self.buttons,
        )  # fmt: skip
        self.archive = HealthArchive(
            running, clock, vitals=self.vitals, outbox=self.outbox, events=self.events
        )
        self.weekly = WeeklySummary(
            running, clock, care=self.care, archive=self.archive, family=self.family,
            events=self.events,
        )  # fmt: skip
        await self.weekly.start()
        self.devices = DeviceAdmin(
            running, clock, registry=self.registry, supervisor=self.supervisor, care=self.care
        )
        self.power = PowerWatch(running, clock, tasks, events=self.events)
        self.centre = CentreCommands(
            running, clock, tasks, alarms=self.alarms, speech=self.speech, updates=self.updates,
            locate=lambda args: locate_later(self.ble, args),
        )  # fmt: skip
        await self.centre.load()
        self.report = StatusReport(
            running, clock, tasks, outbox=self.outbox, uplink=self.uplink, events=self.events,
            alarms=self.alarms, devices=self.devices, family=self.family, power=self.power.status,
            ble=lambda: self.ble.status() if self.ble is not None else None,
        )  # fmt: skip
        self.fleet.when_changed.append(self._reconfigure)
        if cfg.homeassistant.discovery:
            self.homeassistant = HomeAssistantLink(
                running, tasks, outbox=self.outbox, uplink=self.uplink, alarms=self.alarms,
                registry=self.registry, devices=self.devices,
            )  # fmt: skip
            self.events.when_committed.append(self.homeassistant.committed)
            await self.homeassistant.start()
        operations = ControlOperations(
            running, clock, pin_factory=self.pin_factory, outbox=self.outbox, uplink=self.uplink,
            events=self.events, alarms=self.alarms, devices=self.devices, archive=self.archive,
            voice=self.voice, report=self.report, pages=lambda: self.web,
        )  # fmt: skip
        self._control = ControlServer(cfg.control_socket, operations.table())
        await self._control.start()
        if cfg.web.enabled:  # aiohttp is imported only here (resident memory)
            from hub.web.server import WebServer

            self.web = WebServer(self)
            await self.web.start()
        tasks.supervise("uplink", self.uplink.run)
        tasks.supervise("updates", self.updates.run)
        tasks.supervise("held-events", self.events.held.run)
        tasks.supervise("telemetry-groups", self.events.write_groups_forever)
        tasks.supervise("buttons", self.readings.consume_buttons)
        tasks.supervise("timers", self._tick_forever)
        tasks.supervise("alarm-records", self.alarms.persist_forever)
        tasks.supervise("care", self.care.run)
        if cfg.voice.prompts:
            self.speech.start()
        if cfg.voice.listen:
            await self.voice.start()
        tasks.supervise("supervision", self.readings.supervise_forever)
        tasks.supervise("health-archive", self.archive.run)
        tasks.supervise("weekly-summary", self.weekly.run)
        if cfg.rflink.port:
            rf = SerialSource(cfg.rflink.port, baudrate=cfg.rflink.baudrate)
            tasks.supervise("rflink", lambda: self.readings.consume(rf.readings()))
        if cfg.modbus.port:
            start_modbus(
                running, clock=clock, registry=self.registry, tasks=tasks, readings=self.readings
            )
        if cfg.radar.devices:
            self.radars = start_radars(
                cfg.radar.devices,
                clock=clock,
                registry=self.registry,
                tasks=tasks,
                readings=self.readings,
            )
        if cfg.power.source != "none":
            self.power.start(self.pin_factory)
        if cfg.ble.enabled:
            self.ble = start_ble(self)
        log_descriptor_budget(cfg.web.enabled)
        interval = watchdog_interval()
        if interval:
            tasks.supervise("watchdog", lambda: watchdog_loop(interval))
        notify("READY=1")
        _LOGGER.info("hub %s started (pingan-hub %s)", cfg.hub.id, __version__)

    def _reconfigure(self, before: Config, cfg: Config) -> None:
        """A fleet push (or its rollback) is in force: hot-apply it to the live parts."""
        if self.ble is not None and cfg.ble != before.ble:
            _LOGGER.warning("[ble] changed: the scanner keeps its settings until the hub restarts")
        self.alarms.reconfigure(cfg)
        self.outbox.sync.max_bytes = cfg.outbox.max_bytes
        self.events.group_s = cfg.outbox.telemetry_group_s
        self.family.escalator.cfg = cfg.escalation
        self.care.reconfigure(cfg)
        self.uplink.reconfigure(cfg)

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
        self.power.close()
        await self.outbox.close()

    async def run(self) -> None:
        """Start and run until cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    def _on_sent(self, event: Event) -> None:
        self.events.sent(event)
        self.alarms.sent(event)

    def _on_uplink_connected(self) -> None:
        self.updates.on_connected()
        if self.homeassistant is not None:
            self.homeassistant.on_connected()
        self.fleet.on_connected()

    async def _tick_forever(self) -> None:
        while True:
            now = self.clock.monotonic()
            self.alarms.tick(now)
            await self.voice.tick()
            await self.fleet.tick(now)
            self.alarms.forget_closed(now)
            await asyncio.sleep(_TICK_S)

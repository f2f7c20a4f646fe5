"""The control socket's operations (`pingan-hub status`, `events`, `devices` …, hub/
control.py serves them): one table from operation name to the room that answers it.

The simulation's operations (press a mock button, inject an event, freeze the loop) exist
only with gpio.pin_factory = "mock"; on a real hub they are refused before anything runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, Protocol

from hub.clock import Clock
from hub.config import RunningConfig
from hub.errors import HubError
from hub.event import KIND_PRIORITY, Draft, Priority, Source, valid_kind
from hub.services.alarms import AlarmService
from hub.services.archive import HealthArchive
from hub.services.committer import EventCommitter
from hub.services.devices import DeviceAdmin
from hub.services.status import StatusReport
from hub.services.voice import VoiceService
from hub.store.outbox import AsyncOutbox, LoggedEvent
from hub.sync.uplink import Uplink

Operation = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class PinIssuer(Protocol):
    """The pages' PINs (hub/web), when the pages are on."""

    async def pin_op(self, *, family: bool, new: bool) -> dict[str, Any]: ...


class ControlOperations:
    """Builds the control socket's table; each operation checks its request first."""

    def __init__(
        self,
        running: RunningConfig,
        clock: Clock,
        *,
        pin_factory: Any,
        outbox: AsyncOutbox,
        uplink: Uplink,
        events: EventCommitter,
        alarms: AlarmService,
        devices: DeviceAdmin,
        archive: HealthArchive,
        voice: VoiceService,
        report: StatusReport,
        pages: Callable[[], PinIssuer | None],
    ) -> None:
        self.running = running
        self.clock = clock
        self.pin_factory = pin_factory
        self.outbox = outbox
        self.uplink = uplink
        self.events = events
        self.alarms = alarms
        self.devices = devices
        self.archive = archive
        self.voice = voice
        self.report = report
        self.pages = pages  # the pages start after the control socket: looked up per call

    def table(self) -> dict[str, Operation]:
        """Operation name -> what answers it."""
        debug_ops: dict[str, Operation] = {
            "press": self._press,
            "inject": self._inject,
            "block-loop": self._block_loop,
        }
        if self.running.cfg.gpio.pin_factory != "mock":  # not a simulation: refused
            debug_ops = {op: _simulation_only(op) for op in debug_ops}
        return {
            "status": lambda _req: self.report.status(),
            "events": self._events,
            "test-alarm": lambda _req: self.alarms.test_alarm(),
            **debug_ops,
            "devices": lambda _req: self.devices.listing(),
            "health": lambda req: self.archive.query(req.get("days", 1)),
            "pair": self._pair,
            "remove": self._remove,
            "rename": self._rename,
            "pin": self._pin,
            "voice-enrol": lambda req: self.voice.enrol(req.get("phrase")),
        }

    async def _pin(self, request: dict[str, Any]) -> dict[str, Any]:
        """The installer's one-time PIN (or the family PIN) for the pages."""
        pages = self.pages()
        if pages is None:
            raise HubError("the web pages are off: set [web] enabled = true and restart the hub")
        return await pages.pin_op(family=bool(request.get("family")), new=bool(request.get("new")))

    async def _events(self, request: dict[str, Any]) -> dict[str, Any]:
        last = request.get("last", 20)
        if not isinstance(last, int) or not 1 <= last <= 10_000:
            raise HubError("last must be a whole number from 1 to 10000")
        rows = await self.outbox.recent(last)

        def sent_at(row: LoggedEvent) -> str | None:
            published = self.uplink.published_at(row.event.id)
            return row.sent_at or (published.isoformat() if published else None)

        return {"events": [{**row.event.to_dict(), "sent_at": sent_at(row)} for row in rows]}

    async def _pair(self, request: dict[str, Any]) -> dict[str, Any]:
        device = await self.devices.pair(
            request.get("key"),
            request.get("kind"),
            request.get("name", ""),
            request.get("room", ""),
            body_worn=request.get("body_worn", False),
        )
        return {"device": asdict(device)}

    async def _remove(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"removed": await self.devices.remove(request.get("key"))}

    async def _rename(self, request: dict[str, Any]) -> dict[str, Any]:
        key, name, room = request.get("key"), request.get("name"), request.get("room")
        return {"device": asdict(await self.devices.rename(key, name, room))}

    def _require_simulation(self, op: str) -> None:
        from gpiozero.pins.mock import MockFactory

        mock = self.running.cfg.gpio.pin_factory == "mock"
        if not mock or not isinstance(self.pin_factory, MockFactory):
            raise HubError(f'{op} works only in simulation (gpio.pin_factory = "mock")')

    async def _inject(self, request: dict[str, Any]) -> dict[str, Any]:
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
        elif KIND_PRIORITY.get(kind) is Priority.TELEMETRY and self.events.group_s > 0:
            # As a sensor's report: queued for the next group write (hub/services/
            # committer.py); it has no seq until then, and the reply says so.
            draft = Draft.create(kind, self.clock, data=data, source=source)
            self.events.queue(draft)
            return {"id": draft.id, "seq": None, "queued": True}
        else:
            event = await self.events.commit(
                Draft.create(kind, self.clock, data=data, source=source)
            )
        return {"id": event.id, "seq": event.seq}

    async def _block_loop(self, request: dict[str, Any]) -> dict[str, Any]:
        """Freeze the event loop on purpose (simulation only): proves the watchdog bites."""
        self._require_simulation("block-loop")
        seconds = request.get("seconds", 1.0)
        if not isinstance(seconds, (int, float)) or not 0 < seconds <= 60:
            raise HubError("seconds must be a number from 0 to 60")
        time.sleep(seconds)  # noqa: ASYNC251 - blocking is the point of this operation
        return {"blocked_s": seconds}

    async def _press(self, request: dict[str, Any]) -> dict[str, Any]:
        """Simulated press of a mock-pin button (demo and tests only)."""
        self._require_simulation("press")
        gpio = self.running.cfg.gpio
        button = {"sos": gpio.sos_pin, "ok": gpio.ok_pin}.get(str(request.get("button", "sos")))
        hold = request.get("hold_s", 0.2)
        if button is None or not isinstance(hold, (int, float)) or not 0 <= hold <= 30:
            raise HubError("button must be 'sos' or 'ok' and hold_s 0 to 30")
        pin = self.pin_factory.pin(button)
        pin.drive_low()
        await asyncio.sleep(hold)
        pin.drive_high()
        return {"pressed": request.get("button", "sos"), "hold_s": hold}


def _simulation_only(op: str) -> Operation:
    """A control op that exists only in simulation (demo, tests, the power-cut harness): on
    a real hub it is refused before anything runs (freezing the loop, committing a made-up
    alarm or pressing a pin is no operation for a hub in a home)."""

    async def refuse(_request: dict[str, Any]) -> dict[str, Any]:
        raise HubError(f'{op} works only in simulation (gpio.pin_factory = "mock")')

    return refuse

"""The centre's commands (cmd/<name>, docs/asyncapi.yaml): each obeyed once per id, and
carried out by the room that owns it (a test alarm, a sentence spoken, a wristband
located, a software update).

The centre's full escalation test texts and calls the family at most once a day
(hub/sync/commands.py decides); when it last did is kept across restarts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from hub.clock import Clock
from hub.config import RunningConfig
from hub.errors import DecodeError
from hub.event import Source
from hub.services.alarms import AlarmService
from hub.services.speech import SpeechService
from hub.store.atomic import read_json, write_json_atomic
from hub.sync.commands import CentreTest, CommandGate, Verdict, command_id, parse_test
from hub.tasks import Tasks
from hub.update.agent import UpdateAgent

_LOGGER = logging.getLogger(__name__)

# When the family was last texted and called for a centre's full escalation test (at most
# once a day: hub/sync/commands.py), kept across restarts.
_COMMANDS_FILE = "commands.json"
# Test alarms the centre raises carry this as raised_by (at most one open at a time).
_CENTRE_TEST = "cmd/test"
# The commands the centre may send (docs/asyncapi.yaml).
COMMANDS = ("test", "speak", "locate", "callback", "update")

Locate = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]


class CentreCommands:
    """Obeys the centre's commands: `on_command` is the uplink's callback."""

    def __init__(
        self,
        running: RunningConfig,
        clock: Clock,
        tasks: Tasks,
        *,
        alarms: AlarmService,
        speech: SpeechService,
        updates: UpdateAgent,
        locate: Locate,
    ) -> None:
        self.running = running
        self.clock = clock
        self.tasks = tasks
        self.alarms = alarms
        self.speech = speech
        self.updates = updates
        self.locate = locate
        # The commands' ids seen, the last full escalation test (loaded at start).
        self.gate = CommandGate()
        self._centre_test_starting = False  # a cmd/test alarm being raised right now

    async def load(self) -> None:
        """When the family was last part of a centre test, as saved before a restart."""
        saved = await asyncio.to_thread(read_json, self.running.cfg.data_path / _COMMANDS_FILE)
        if isinstance(saved, dict) and isinstance(saved.get("family_test_at"), (int, float)):
            self.gate.last_family_test = float(saved["family_test_at"])

    def on_command(self, name: str, args: dict[str, Any]) -> None:
        """A command from the centre (never a retained one: the uplink drops those); one
        with an id is obeyed once per id."""
        if name not in COMMANDS:
            _LOGGER.warning("unknown command %r ignored", name[:100])
            return
        try:
            test = parse_test(args) if name == "test" else None
            ident = command_id(args)
        except DecodeError as exc:
            _LOGGER.warning("cmd/%s ignored: %s", name, exc)
            return
        if not self.gate.first_time(name, ident):
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
            self.tasks.spawn(self.locate(args), "cmd-locate")
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
        verdict = self.gate.judge_test(
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
                        self.running.cfg.data_path / _COMMANDS_FILE,
                        {"family_test_at": self.gate.last_family_test},
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

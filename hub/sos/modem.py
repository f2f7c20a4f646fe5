"""Cellular modem (SIM7600 / EC25 class) over AT commands: SMS, voice calls, signal.

3GPP TS 27.007 (general and call control) and TS 27.005 (SMS, PDU mode). The serial
port is driven from the event loop by pyserial-asyncio-fast; every received byte goes
through one framer, and every line is routed either to the command in flight or to the
unsolicited-result-code (URC) handler. URCs (RING, +CLIP, +CMTI, NO CARRIER after a
call, +CREG) can arrive at any moment, also between a command and its answer, so the
routing is decided per line, never by position:

* lines whose prefix the command declared (``+CSQ`` for ``AT+CSQ``) are its answer;
* lines that are only ever unsolicited (RING, +CLIP, +CMTI, ...) are URCs;
* NO CARRIER / BUSY / NO ANSWER end a dial command (ATD, ATA) but are URCs otherwise;
* anything else while a command is in flight is its information response.

The pure parts (`LineFramer`, `parse_line`, `split_args`, `same_number`) are in
hub.sos.at: they take bytes and return plain data; `Modem` is the thin IO edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from hub.errors import DecodeError, HubError
from hub.sos.at import (
    REG_STATES,
    CallOutcome,
    CallResult,
    IncomingCall,
    Line,
    LineFramer,
    LineKind,
    ModemStatus,
    Prompt,
    SignalQuality,
    csq_to_signal,
    parse_line,
    same_number,
)
from hub.sos.sms import SmsError, encode_submit, mask_number
from hub.timeouts import wait_within

_LOGGER = logging.getLogger(__name__)


class ModemError(HubError):
    """The modem could not do what was asked; the message says what and why."""


class SimError(ModemError):
    """The SIM is missing, locked or failed (+CPIN / +CME ERROR 10-18)."""


class NetworkError(ModemError):
    """The modem is not registered on a cellular network."""


# -- timing (seconds) -------------------------------------------------------------
# Ordinary commands answer within milliseconds; 5 s covers a busy modem.
DEFAULT_TIMEOUT_S = 5.0
# SIMCom and Quectel AT manuals give AT+CMGS a maximum response time of 120 s (the
# network round trip); waiting that long would stall the cascade, 60 s is the cap.
SMS_TIMEOUT_S = 60.0
# Time for the "> " prompt after AT+CMGS=<len>.
PROMPT_TIMEOUT_S = 5.0
# ATD returns OK once the call is being set up; Quectel documents up to 5 s for that.
DIAL_TIMEOUT_S = 10.0
# How long a relative's phone may ring before we give up on that number: about
# eight rings, shorter than most voicemail diversion (20-30 s) would be worse.
RING_TIMEOUT_S = 30.0
# AT+CLCC polling while a call is being set up.
CALL_POLL_S = 0.5
# Modems repeat RING (and +CLIP) every 3-6 s while a call rings; a longer pause from the
# same number is a new call.
_RING_REPEAT_S = 10.0
# After a timeout, how long a late answer is waited for (and dropped) before the next
# command, so it cannot be taken for that command's answer.
_LATE_ANSWER_S = 1.0
_CTRL_Z, _ESC = b"\x1a", b"\x1b"


# -- the driver -------------------------------------------------------------------


@dataclass
class _Pending:
    command: str
    expect: str
    call: bool
    done: asyncio.Future[list[Line]]
    prompt: asyncio.Future[None] | None = None
    lines: list[Line] = field(default_factory=list)


class _Protocol(asyncio.Protocol):
    def __init__(self, modem: Modem) -> None:
        self.modem = modem

    def data_received(self, data: bytes) -> None:
        self.modem._received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.modem._lost(exc)


class Modem:
    """One cellular modem on a serial port (a /dev/ttyUSB* or a simulator's pty)."""

    def __init__(
        self,
        port: str,
        *,
        centre_numbers: Iterable[str] = (),
        baudrate: int = 115200,
        call_poll_s: float = CALL_POLL_S,
        prompt_timeout_s: float = PROMPT_TIMEOUT_S,
    ) -> None:
        self.port = port
        self.prompt_timeout_s = prompt_timeout_s
        self.baudrate = baudrate
        self.centre_numbers = tuple(centre_numbers)
        self.call_poll_s = call_poll_s
        self._transport: asyncio.Transport | None = None
        self._framer = LineFramer()
        self._lock = asyncio.Lock()
        self._pending: _Pending | None = None
        self._incoming: asyncio.Queue[IncomingCall] = asyncio.Queue(maxsize=100)
        self._call_end = asyncio.Event()
        self._call_end_code = ""
        self._call_active = False
        self._ignored: tuple[str, float] = ("", 0.0)
        self._quiet_until = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self.urc_log: list[Line] = []  # the latest URCs, for status and tests
        self.garbage = 0  # lines that could not be parsed

    @property
    def is_open(self) -> bool:
        """The port is open (False after close or when the modem was unplugged)."""
        return self._transport is not None

    # -- open and close -----------------------------------------------------------

    async def open(self) -> None:
        """Open the serial port (ModemError when it cannot be opened)."""
        import serial
        import serial_asyncio_fast

        loop = asyncio.get_running_loop()
        try:
            self._transport, _ = await serial_asyncio_fast.create_serial_connection(
                loop, lambda: _Protocol(self), self.port, baudrate=self.baudrate
            )
        except (serial.SerialException, OSError) as exc:
            raise ModemError(f"cannot open modem port {self.port}: {exc}") from exc

    async def close(self) -> None:
        """Close the port; commands in flight fail with ModemError."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._fail_pending("modem port closed")

    async def __aenter__(self) -> Modem:
        await self.open()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- receiving ------------------------------------------------------------------

    def _received(self, data: bytes) -> None:
        for item in self._framer.feed(data):
            if isinstance(item, Prompt):
                pending = self._pending
                if pending and pending.prompt and not pending.prompt.done():
                    pending.prompt.set_result(None)
                continue
            try:
                line = parse_line(item)
            except DecodeError as exc:
                self.garbage += 1
                _LOGGER.warning("unreadable line from modem ignored: %s", exc)
                continue
            self._route(line)

    def _route(self, line: Line) -> None:
        pending = self._pending
        if pending is None or pending.done.done():
            self._urc(line)
            return
        if line.text.upper() == pending.command.upper():
            return  # our own command echoed (before ATE0)
        if line.kind is LineKind.OK:
            pending.done.set_result(pending.lines)
        elif line.kind is LineKind.ERROR:
            pending.done.set_exception(_translate_error(pending.command, line))
        elif line.kind is LineKind.CALL_END:
            if pending.call:
                pending.done.set_exception(_CallEnded(line.text))
            else:
                self._urc(line)
        elif pending.expect and line.prefix == pending.expect:
            pending.lines.append(line)
        elif line.kind is LineKind.URC:
            self._urc(line)
        else:
            pending.lines.append(line)

    def _urc(self, line: Line) -> None:
        self.urc_log = [*self.urc_log[-49:], line]
        if line.kind is LineKind.CALL_END or (line.prefix == "VOICE CALL" and "END" in line.text):
            self._call_active = False
            self._call_end_code = line.text
            self._call_end.set()
        elif line.prefix == "+CLIP" and line.args:
            self._on_clip(line)
        elif line.prefix in ("+CREG", "+CEREG"):
            stat = line.args[0] if line.args else ""
            _LOGGER.info("network registration: %s", REG_STATES.get(stat, stat))
        elif line.prefix == "+CMTI":
            _LOGGER.info("SMS received and stored (%s)", ",".join(line.args))

    def _on_clip(self, line: Line) -> None:
        if self._call_active:
            return  # a repeated RING / +CLIP for the call we already answered
        number = line.args[0]
        international = len(line.args) > 1 and line.args[1] == "145"
        masked = mask_number(number)
        now = asyncio.get_running_loop().time()
        last_number, last_at = self._ignored
        if number == last_number and now - last_at < _RING_REPEAT_S:
            self._ignored = (number, now)
            return  # the same unanswered call ringing again
        if any(same_number(c, number, b_international=international) for c in self.centre_numbers):
            _LOGGER.info("incoming call from centre number %s: answering", masked)
            self._call_active = True
            self._spawn(self._answer(masked))
        else:
            _LOGGER.info("incoming call from %s (not a centre number): not answered", masked)
            self._ignored = (number, now)
            self._notify(IncomingCall(masked, answered=False))

    async def _answer(self, masked: str) -> None:
        try:
            await self.command("ATA", timeout_s=DIAL_TIMEOUT_S, call=True)
        except ModemError as exc:
            self._call_active = False
            self._notify(IncomingCall(masked, answered=False, error=str(exc)))
            return
        self._call_end.clear()
        self._notify(IncomingCall(masked, answered=True))

    def _notify(self, call: IncomingCall) -> None:
        if self._incoming.full():
            self._incoming.get_nowait()  # keep the newest
        self._incoming.put_nowait(call)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._fail_pending(f"modem port lost: {exc}" if exc else "modem port closed")

    def _fail_pending(self, why: str) -> None:
        pending = self._pending
        if pending is None:
            return
        for fut in (pending.done, pending.prompt):
            if fut is not None and not fut.done():
                fut.set_exception(ModemError(why))
                fut.exception()  # retrieved: nobody may be awaiting it any more

    async def incoming_calls(self) -> AsyncIterator[IncomingCall]:
        """Each incoming call, answered or not, as it happens."""
        while True:
            yield await self._incoming.get()

    async def next_call(self) -> IncomingCall:
        """The next incoming call; safe to cancel (e.g. by a timeout): none is lost."""
        return await self._incoming.get()

    # -- commands -------------------------------------------------------------------

    async def command(
        self,
        command: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        expect: str = "",
        call: bool = False,
        pdu: str | None = None,
    ) -> list[Line]:
        """Send one AT command; its information lines, or ModemError (with the reason).

        `expect` is the response prefix the command answers with (so a URC sharing it
        is not mistaken), `call` lets NO CARRIER / BUSY end it, and `pdu` is written
        after the "> " prompt (AT+CMGS).
        """
        async with self._lock:
            shown = _shown(command)
            loop = asyncio.get_running_loop()
            if loop.time() < self._quiet_until:
                # The last command timed out: let its late answer (if any) arrive and be
                # dropped now, rather than be taken for the answer to this command.
                await asyncio.sleep(self._quiet_until - loop.time())
            transport = self._transport
            if transport is None:
                raise ModemError(f"{shown}: modem port is not open")
            if not command.isascii() or (pdu is not None and not pdu.isascii()):
                raise ModemError(f"{shown}: AT commands are ASCII only")
            pending = _Pending(command, expect, call, loop.create_future())
            if pdu is not None:
                pending.prompt = loop.create_future()
            self._pending = pending
            try:
                transport.write(command.encode("ascii") + b"\r")
                if pending.prompt is not None and pdu is not None:
                    await asyncio.wait(
                        (pending.prompt, pending.done),
                        timeout=self.prompt_timeout_s,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if pending.done.done():  # refused (+CMS / +CME ERROR) instead of prompting
                        return await pending.done
                    if not pending.prompt.done():
                        transport.write(_ESC)  # leave text mode cleanly
                        raise ModemError(
                            f"{shown}: no '>' prompt within {self.prompt_timeout_s:g} s"
                        )
                    await pending.prompt  # raises when the port was lost meanwhile
                    transport.write(pdu.encode("ascii") + _CTRL_Z)
                try:
                    return await wait_within(asyncio.shield(pending.done), timeout_s)
                except TimeoutError:
                    self._quiet_until = loop.time() + _LATE_ANSWER_S
                    raise ModemError(
                        f"{shown}: no answer from the modem within {timeout_s:g} s"
                    ) from None
            finally:
                self._pending = None
                for fut in (pending.done, pending.prompt):
                    if fut is not None and fut.done() and not fut.cancelled():
                        fut.exception()  # mark retrieved

    # -- what the hub uses ---------------------------------------------------------------

    async def initialise(self) -> ModemStatus:
        """Echo off, verbose errors, SIM, registration, signal, PDU mode, caller id."""
        await self.command("ATE0")
        await self.command("AT+CMEE=2")
        sim = await self._one("AT+CPIN?", "+CPIN")
        if sim != "READY":
            raise SimError(f"SIM not ready: {sim}")
        registration = await self.registration()
        if not registration[0]:
            raise NetworkError(f"not registered on a cellular network: {registration[1]}")
        signal = await self.signal_quality()
        await self.command("AT+CMGF=0")  # PDU mode: the only way to send UCS2 reliably
        await self.command("AT+CLIP=1")  # caller id, for the centre whitelist
        await self.command("AT+CREG=1")  # registration changes as URCs
        return ModemStatus(sim, True, registration[1], signal)

    async def _one(self, command: str, prefix: str) -> str:
        lines = await self.command(command, expect=prefix)
        for line in lines:
            if line.prefix == prefix and line.args:
                return line.args[0]
        raise ModemError(f"{command}: answer without {prefix}")

    async def registration(self) -> tuple[bool, str]:
        """(registered, description) from AT+CREG? and, for LTE, AT+CEREG?."""
        best = "unknown"
        for command, prefix in (("AT+CREG?", "+CREG"), ("AT+CEREG?", "+CEREG")):
            try:
                lines = await self.command(command, expect=prefix)
            except ModemError:
                if prefix == "+CEREG":
                    continue  # a 2G/3G-only modem does not know CEREG
                raise
            for line in lines:
                if line.prefix == prefix and len(line.args) >= 2:
                    stat = line.args[1]
                    best = REG_STATES.get(stat, stat)
                    if stat in ("1", "5"):
                        return True, best
        return False, best

    async def signal_quality(self) -> SignalQuality:
        """RSSI in dBm and bit error rate, for the installer's survey."""
        lines = await self.command("AT+CSQ", expect="+CSQ")
        for line in lines:
            if line.prefix == "+CSQ" and len(line.args) == 2:
                try:
                    return csq_to_signal(int(line.args[0]), int(line.args[1]))
                except ValueError:
                    break
        raise ModemError("AT+CSQ: answer not understood")

    async def send_sms(self, number: str, text: str, *, reference: int = 0) -> list[int]:
        """Send `text` (split when long); the message reference of each part."""
        try:
            parts = encode_submit(number, text, reference=reference)
        except SmsError as exc:
            raise ModemError(f"SMS to {mask_number(number)} cannot be encoded: {exc}") from exc
        refs: list[int] = []
        for i, part in enumerate(parts, start=1):
            try:
                lines = await self.command(
                    f"AT+CMGS={part.tpdu_length}",
                    timeout_s=SMS_TIMEOUT_S,
                    expect="+CMGS",
                    pdu=part.pdu,
                )
            except ModemError as exc:
                raise ModemError(
                    f"SMS to {mask_number(number)} part {i}/{len(parts)} failed: {exc}"
                ) from exc
            ref = next((ln.args[0] for ln in lines if ln.prefix == "+CMGS" and ln.args), "")
            refs.append(int(ref) if ref.isdigit() else -1)
        _LOGGER.info("SMS to %s sent in %d part(s)", mask_number(number), len(parts))
        return refs

    async def dial(self, number: str, *, ring_timeout: float = RING_TIMEOUT_S) -> CallResult:
        """Call `number` (voice) and wait until it is answered, busy or unanswered."""
        masked = mask_number(number)
        digits = number.strip()
        if not digits or not all(c.isdigit() or c == "+" for c in digits):
            return CallResult(CallOutcome.FAILED, f"{masked}: not a phone number")
        self._call_end.clear()
        self._call_end_code = ""
        try:
            await self.command(f"ATD{digits};", timeout_s=DIAL_TIMEOUT_S, call=True)
        except _CallEnded as ended:
            return _ended_result(str(ended), masked)
        except ModemError as exc:
            return CallResult(CallOutcome.FAILED, f"call to {masked} failed: {exc}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ring_timeout
        while loop.time() < deadline:
            if self._call_end.is_set():
                return _ended_result(self._call_end_code, masked)
            try:
                state = await self._outgoing_call_state()
            except ModemError as exc:
                _LOGGER.warning("call state unknown: %s", exc)
                state = None
            if state == "0":
                self._call_active = True
                _LOGGER.info("call to %s answered", masked)
                return CallResult(CallOutcome.ANSWERED)
            if state == "" and not self._call_end.is_set():
                return CallResult(CallOutcome.NO_ANSWER, f"call to {masked} ended")
            with contextlib.suppress(TimeoutError):
                remaining = max(0.0, deadline - loop.time())
                await wait_within(self._call_end.wait(), min(self.call_poll_s, remaining))
        await self.hang_up()
        return CallResult(
            CallOutcome.NO_ANSWER, f"{masked} did not answer within {ring_timeout:g} s"
        )

    async def _outgoing_call_state(self) -> str | None:
        """<stat> of our outgoing call in AT+CLCC ('' when there is none)."""
        lines = await self.command("AT+CLCC", expect="+CLCC")
        for line in lines:
            # +CLCC: <id>,<dir>,<stat>,<mode>,<mpty>[,<number>,<type>]; dir 0 = MO, mode 0 = voice
            if line.prefix == "+CLCC" and len(line.args) >= 4 and line.args[1] == "0":
                return line.args[2]
        return ""

    async def hang_up(self) -> None:
        """End every call (AT+CHUP, or ATH on modems without it)."""
        self._call_active = False
        try:
            await self.command("AT+CHUP")
        except ModemError:
            await self.command("ATH")


class _CallEnded(ModemError):
    """A dial command ended with NO CARRIER / BUSY / NO ANSWER."""


def _ended_result(code: str, masked: str) -> CallResult:
    if code == "BUSY":
        return CallResult(CallOutcome.BUSY, f"{masked} is busy")
    if code in ("NO ANSWER", "NO CARRIER") or "VOICE CALL" in code:
        return CallResult(CallOutcome.NO_ANSWER, f"{masked} did not answer ({code})")
    return CallResult(CallOutcome.FAILED, f"call to {masked} failed ({code or 'no reason'})")


def _shown(command: str) -> str:
    """The command as it may appear in messages and logs: never a dialled number."""
    return "ATD" if command.upper().startswith("ATD") else command


def _translate_error(command: str, line: Line) -> ModemError:
    reason = line.args[0] if line.args else "ERROR"
    shown = _shown(command)
    if line.prefix == "+CME ERROR" and ("SIM" in reason.upper() or reason in _SIM_CODES):
        return SimError(f"{shown}: SIM problem: {reason}")
    if line.prefix == "+CMS ERROR":
        return ModemError(f"{shown}: SMS refused by the modem or network (+CMS ERROR {reason})")
    if line.prefix == "+CME ERROR":
        return ModemError(f"{shown}: modem error: {reason}")
    return ModemError(f"{shown}: the modem answered ERROR")


# TS 27.007 9.2.1: numeric +CME ERROR codes about the SIM (with AT+CMEE=1).
_SIM_CODES = frozenset({"10", "11", "12", "13", "14", "15", "16", "17", "18"})

"""A simulated SIM7600-class modem on a pty, for the demo and the tests.

The hub opens `sim.port` (the pty's slave side) exactly as it would open
/dev/ttyUSB2; the simulator sits on the master side in the same event loop and speaks
the AT dialogue byte for byte: echo until ATE0, "\\r\\nOK\\r\\n" framing, the "> " prompt
of AT+CMGS, +CME / +CMS errors, URCs injected between a command and its answer, slow
answers, and incoming calls. Every knob is a plain attribute the test sets before or
during the dialogue; every SMS PDU received is kept in `sms` so a test can decode it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from dataclasses import dataclass, field
from enum import Enum

CTRL_Z, ESC = 0x1A, 0x1B


class Dial(Enum):
    """What the called party does."""

    ANSWER = "answer"  # rings for `answer_after_s`, then picks up
    BUSY = "busy"  # BUSY at once
    NO_ANSWER = "no_answer"  # rings until the caller hangs up
    REJECT = "reject"  # rings, then NO CARRIER (the relative pressed red)


@dataclass
class ReceivedSms:
    """One AT+CMGS the simulator accepted (or refused)."""

    length: int
    pdu: str
    accepted: bool


@dataclass
class _Call:
    number: str
    outgoing: bool
    stat: int  # TS 27.007 +CLCC <stat>: 0 active, 2 dialing, 3 alerting, 4 incoming
    handle: asyncio.TimerHandle | None = None


@dataclass
class SimulatedModem:
    """The modem's behaviour; change any field to put the modem in that state."""

    sim_inserted: bool = True
    registered: bool = True
    rssi: int = 20  # AT+CSQ raw value: -73 dBm
    ber: int = 99
    sms_error: int | None = None  # e.g. 500: every AT+CMGS ends in +CMS ERROR: 500
    dial: dict[str, Dial] = field(default_factory=dict)  # by number; default ANSWER
    answer_after_s: float = 0.2
    slow: dict[str, float] = field(default_factory=dict)  # command prefix -> answer delay
    silent: set[str] = field(default_factory=set)  # command prefixes never answered
    urcs_before_answer: list[str] = field(default_factory=list)  # injected, then cleared
    no_chup: bool = False  # answer AT+CHUP with ERROR (old firmware): ATH must be used
    commands: list[str] = field(default_factory=list)
    sms: list[ReceivedSms] = field(default_factory=list)
    answered_incoming: list[str] = field(default_factory=list)
    echo: bool = True
    cmee: int = 0
    _master: int = field(default=-1, repr=False)
    _slave: int = field(default=-1, repr=False)
    _buf: bytearray = field(default_factory=bytearray, repr=False)
    _pdu_len: int | None = field(default=None, repr=False)
    _mr: int = field(default=0, repr=False)
    _call: _Call | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    # -- lifetime ---------------------------------------------------------------------

    def start(self) -> str:
        """Open the pty and start answering; returns the port path for the driver."""
        self._loop = asyncio.get_running_loop()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo or CR/LF translation by the line discipline
        os.set_blocking(self._master, False)
        self._loop.add_reader(self._master, self._readable)
        return self.port

    @property
    def port(self) -> str:
        """The device path the hub opens."""
        return os.ttyname(self._slave)

    def close(self) -> None:
        """Stop answering and close the pty."""
        if self._master < 0:
            return
        if self._call and self._call.handle:
            self._call.handle.cancel()
        assert self._loop is not None
        self._loop.remove_reader(self._master)
        os.close(self._master)
        os.close(self._slave)
        self._master = self._slave = -1

    # -- the far end of the wire ------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        """Write raw text or bytes (line noise) to the hub, no framing added."""
        raw = data.encode() if isinstance(data, str) else data
        if self._master >= 0:
            with contextlib.suppress(OSError):
                os.write(self._master, raw)

    def urc(self, line: str) -> None:
        """An unsolicited result code, framed as the modem frames it."""
        self.send(f"\r\n{line}\r\n")

    def incoming_call(self, number: str, toa: int = 129) -> None:
        """Someone calls the hub: RING and the caller id."""
        self._call = _Call(number, outgoing=False, stat=4)
        self.urc("RING")
        self.urc(f'+CLIP: "{number}",{toa},"",,"",0')

    def remote_hang_up(self) -> None:
        """The other party ends the call."""
        if self._call is not None:
            self._end_call("NO CARRIER")

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except OSError:
            return
        for byte in data:
            self._byte(byte)

    def _byte(self, byte: int) -> None:
        if self._pdu_len is not None:  # text mode after the "> " prompt
            if byte == CTRL_Z:
                self._pdu_done(self._buf.decode("ascii", "replace").strip())
                self._buf.clear()
            elif byte == ESC:
                self._pdu_len = None
                self._buf.clear()
                self._final("OK")
            else:
                self._buf.append(byte)
            return
        if byte in (CTRL_Z, ESC):
            return  # outside text mode a modem ignores them
        if self.echo:
            self.send(chr(byte))
        if byte == ord("\r"):
            line = self._buf.decode("ascii", "replace").strip()
            self._buf.clear()
            if line:
                self._command(line)
        elif byte != ord("\n"):
            self._buf.append(byte)

    def _command(self, cmd: str) -> None:
        self.commands.append(cmd)
        upper = cmd.upper()
        if any(upper.startswith(p.upper()) for p in self.silent):
            return
        lines, final = self._answer(cmd, upper)
        delay = next((d for p, d in self.slow.items() if upper.startswith(p.upper())), 0.0)
        injected, self.urcs_before_answer = self.urcs_before_answer, []

        def respond() -> None:
            for urc in injected:
                self.urc(urc)
            for line in lines:
                self.send(f"\r\n{line}\r\n")
            if final is not None:
                self._final(final)

        if delay and self._loop is not None:
            self._loop.call_later(delay, respond)
        else:
            respond()

    def _final(self, code: str) -> None:
        self.send(f"\r\n{code}\r\n")

    def _cme(self, text: str, code: int) -> str:
        if self.cmee == 2:
            return f"+CME ERROR: {text}"
        return f"+CME ERROR: {code}" if self.cmee == 1 else "ERROR"

    def _answer(self, cmd: str, upper: str) -> tuple[list[str], str | None]:
        """The information lines and the final result of one command (None: later)."""
        if upper in ("AT", "ATZ"):
            return [], "OK"
        if upper in ("ATE0", "ATE1"):
            self.echo = upper == "ATE1"
            return [], "OK"
        if upper in ("AT+CMEE=0", "AT+CMEE=1", "AT+CMEE=2"):
            self.cmee = int(upper[-1])
            return [], "OK"
        if upper in ("AT+CMGF=0", "AT+CLIP=1", "AT+CREG=1", "AT+CREG=0"):
            return [], "OK"
        if not self.sim_inserted and upper.startswith(("AT+CPIN", "AT+CMGS", "ATD")):
            return [], self._cme("SIM not inserted", 10)
        if upper == "AT+CPIN?":
            return ["+CPIN: READY"], "OK"
        if upper in ("AT+CREG?", "AT+CEREG?"):
            prefix = upper[2:-1]
            return [f"{prefix}: 0,{1 if self.registered else 0}"], "OK"
        if upper == "AT+CSQ":
            return [f"+CSQ: {self.rssi},{self.ber}"], "OK"
        if upper.startswith("AT+CMGS="):
            if not self.registered:
                return [], "+CMS ERROR: 331"  # TS 27.005 3.2.5: no network service
            self._pdu_len = int(upper[8:]) if upper[8:].isdigit() else 0
            self.send("\r\n> ")
            return [], None
        if upper == "AT+CLCC":
            call = self._call
            if call is None:
                return [], "OK"
            direction = 0 if call.outgoing else 1
            return [f'+CLCC: 1,{direction},{call.stat},0,0,"{call.number}",129'], "OK"
        if upper.startswith("ATD") and upper.endswith(";"):
            return self._dial(cmd[3:-1])
        if upper == "ATA":
            if self._call is None or self._call.outgoing:
                return [], "NO CARRIER"
            self._call.stat = 0
            self.answered_incoming.append(self._call.number)
            return [], "OK"
        if upper in ("ATH", "AT+CHUP"):
            if upper == "AT+CHUP" and self.no_chup:
                return [], "ERROR"
            if self._call and self._call.handle:
                self._call.handle.cancel()
            self._call = None
            return [], "OK"
        return [], "ERROR"

    def _dial(self, number: str) -> tuple[list[str], str | None]:
        if not self.registered:
            return [], "NO CARRIER"
        if self._call is not None:
            return [], self._cme("operation not allowed", 3)
        behaviour = self.dial.get(number, Dial.ANSWER)
        if behaviour is Dial.BUSY:
            assert self._loop is not None
            # OK first (the call is being set up), then the network says busy.
            self._call = _Call(number, outgoing=True, stat=2)
            self._call.handle = self._loop.call_later(0.05, self._end_call, "BUSY")
            return [], "OK"
        self._call = _Call(number, outgoing=True, stat=3)
        assert self._loop is not None
        if behaviour is Dial.ANSWER:
            self._call.handle = self._loop.call_later(self.answer_after_s, self._picked_up)
        elif behaviour is Dial.REJECT:
            self._call.handle = self._loop.call_later(
                self.answer_after_s, self._end_call, "NO CARRIER"
            )
        return [], "OK"

    def _picked_up(self) -> None:
        if self._call is not None:
            self._call.stat = 0
            self.urc("VOICE CALL: BEGIN")

    def _end_call(self, code: str) -> None:
        self._call = None
        self.urc(code)

    def _pdu_done(self, pdu: str) -> None:
        length = self._pdu_len or 0
        self._pdu_len = None
        # The TPDU length counts octets after the SMSC field (TS 27.005 3.5.1).
        try:
            raw = bytes.fromhex(pdu)
            ok_length = len(raw) - 1 - raw[0] == length
        except (ValueError, IndexError):
            ok_length = False
        if self.sms_error is not None or not ok_length:
            self.sms.append(ReceivedSms(length, pdu, accepted=False))
            self._final(f"+CMS ERROR: {self.sms_error if self.sms_error is not None else 304}")
            return
        self._mr = (self._mr + 1) % 256
        self.sms.append(ReceivedSms(length, pdu, accepted=True))
        self.send(f"\r\n+CMGS: {self._mr}\r\n")
        self._final("OK")

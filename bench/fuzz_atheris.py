"""Coverage-guided fuzzing (atheris, libFuzzer) of the parsers that take bytes from outside.

Each target runs in its own process for a fixed number of inputs, its modules (and the
third-party parsers they call) instrumented for coverage, started from the recorded
vectors of the tests. A target passes when every input gives a result or the module's
own clean error (DecodeError, or Rejected for config envelopes); anything else is a
crash, and an input taking longer than `--hang-s` is a hang. libFuzzer writes each
crashing input to the work directory (printed) so it can be turned into a test.

Targets: rflink (RFLink line framing + decoding, bytes split at fuzzer-chosen points as a
UART delivers them), at (modem line framing + AT response parser), sms (SMS-SUBMIT PDU
decoder), envelope (signed config envelope verifier: raw bytes), signed (the verifier
past the signature: fuzzed JSON configs signed with the trusted key), inbound (ack and
cmd payloads), gatt (the GATT health characteristic decoders), command (a burst of
`cmd/{name}` messages through the hub's command path: parsing, de-duplication, the test
gate, the cleaning and rate limit of `speak` text and the speech queue; a decision or a
clean refusal, never two family tests a day, never a dropped prompt, never a control
character in spoken text), control (the control socket's request handling: one line of
bytes in, exactly one JSON answer out).

    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python -m bench.fuzz_atheris [--runs 200000] [--only rflink,at]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import machine

TARGETS = (
    "rflink",
    "at",
    "sms",
    "envelope",
    "signed",
    "inbound",
    "gatt",
    "command",
    "control",
)

# Seeds: the recorded vectors of tests/ (valid and broken), so the fuzzer starts deep.
SEEDS: dict[str, list[bytes]] = {
    "rflink": [
        b"20;2D;Eurodomest;ID=123456;SWITCH=01;CMD=ON;\r\n",
        b"20;31;Eurodomest;ID=000111;PIR=ON;\r\n",
        b"20;0C;Alecto V4;ID=0003;SMOKEALERT=ON;\r\n",
        b"20;3B;Chuango;ID=0a1b2c;SWITCH=02;CMD=ALLON;BAT=LOW;\r\n",
        b"20;05;Alecto V1;ID=0334;TEMP=00cf;HUM=14;BAT=OK;\r\n",
        b"20;00;Nodo RadioFrequencyLink - RFLink Gateway V1.1 - R46;\r\n",
        b"20;2D;Euro\xffdomest;ID=123456;SWITCH=01;CMD=ON;\r\n",
    ],
    "at": [
        b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n",
        b"\r\n+CREG: 0,1\r\n\r\nOK\r\n",
        b'\r\n+CLIP: "13800138000",129,"",0,"",0\r\n',
        b"\r\nRING\r\n",
        b"\r\n+CMGS: 12\r\n\r\nOK\r\n",
        b"\r\n+CME ERROR: 10\r\n",
        b"\r\n+CMS ERROR: 500\r\n",
        b"\r\n> ",
        b"\r\nNO CARRIER\r\n",
        b'\r\n+CLCC: 1,0,0,0,0,"13800138000",129\r\n',
    ],
    "sms": [],  # filled from the encoder in the target process
    "envelope": [],
    "signed": [
        json.dumps({"sos": {"ack_timeout_s": 20.0, "resend_s": 5.0}}).encode(),
        json.dumps({"care": {"survival_window_h": 12}, "mqtt": {"heartbeat_s": 30}}).encode(),
    ],
    "inbound": [
        b'{"id": "01a2", "state": "received", "operator": "07", "note": "ok"}',
        b'{"text": "hello"}',
        b"[]",
        b'{"id": 1}',
    ],
    "command": [
        b'\x00{"id": "T-1", "escalation": false}',
        b'\x00{"id": "T-1", "escalation": true}\n\x00{"id": "T-1"}',
        b'\x01{"text": "-5\xc2\xb0C \xe5\xaf\x92\xe6\xbd\xae\xe9\xa2\x84\xe8\xad\xa6"}',
        b'\x01{"text": "a\\u001b[2Jb\\n\\u202e", "id": "S"}',
        b'\x02{"hours": 24}',
        b"\x03{}",
        b"\x04\x00",
    ],
    "control": [
        b'{"op": "status"}\n',
        b'{"op": "events", "last": 5}\n',
        b"[" * 64 + b"\n",
        b'{"op": "status", "x": {"y": [1, {"z": "\\"]["}]}}\n',
        b"\xff\xfe\n",
    ],
    "gatt": [
        bytes.fromhex("1048"),  # heart rate 72 bpm
        bytes.fromhex("16480004cc03"),
        bytes.fromhex("1e7a00550000000000"),
        bytes.fromhex("00620050006100"),
        bytes([87]),
    ],
}


def _target(name: str) -> Callable[[bytes], None]:
    """The one-input function of a target (imports happen under instrumentation)."""
    import atheris

    with atheris.instrument_imports():
        from hub.errors import DecodeError

        if name == "rflink":
            from hub.sensors import rflink
            from hub.sensors.serial_source import LineFramer

            def rflink_input(data: bytes) -> None:
                fdp = atheris.FuzzedDataProvider(data)
                framer = LineFramer()
                while fdp.remaining_bytes():
                    for line in framer.feed(fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 64))):
                        with contextlib.suppress(DecodeError):
                            rflink.decode(line)

            return rflink_input
        if name == "at":
            from hub.sos.at import LineFramer as ModemFramer
            from hub.sos.at import Prompt, parse_line

            def at_input(data: bytes) -> None:
                fdp = atheris.FuzzedDataProvider(data)
                framer = ModemFramer()
                while fdp.remaining_bytes():
                    for item in framer.feed(fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 64))):
                        if isinstance(item, Prompt):
                            continue
                        with contextlib.suppress(DecodeError):
                            parse_line(item)

            return at_input
        if name == "sms":
            from hub.sos.sms import decode_submit

            def sms_input(data: bytes) -> None:
                with contextlib.suppress(DecodeError):
                    decode_submit(data.hex())

            return sms_input
        if name in ("envelope", "signed"):
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            from hub.sync import ota

            key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
            trusted = [ota.public_key_text(key)]
            local: dict[str, Any] = {
                "hub": {"id": "GZ-000123", "data_dir": "/var/lib/pingan-hub"},
                "mqtt": {"host": "mqtt.gz.example", "port": 8883, "tls": True},
                "gpio": {"pin_factory": "mock"},
            }
            from datetime import UTC, datetime

            issued = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

            def judge(raw: bytes) -> None:
                try:
                    ota.verify_envelope(
                        raw,
                        public_keys=trusted,
                        hub_id="GZ-000123",
                        groups=["guangzhou-tianhe"],
                        current_version=4,
                        base=local,
                        now=issued,
                        clock_synced=True,
                    )
                except ota.Rejected as exc:
                    if exc.reason not in ota.REASONS:
                        raise AssertionError(f"unknown reason {exc.reason!r}") from exc

            if name == "envelope":
                return judge

            def signed_input(data: bytes) -> None:
                try:
                    config = json.loads(data)
                except (ValueError, RecursionError):
                    return
                if not isinstance(config, dict):
                    return
                try:
                    env = ota.sign_envelope(key, 5, config, issued, hub="GZ-000123")
                    raw = json.dumps(env, ensure_ascii=False).encode()
                except (TypeError, ValueError, RecursionError):
                    return  # not signable: nothing a fleet admin could send
                judge(raw)

            return signed_input
        if name == "inbound":
            from hub.sync.messages import parse_ack, parse_command

            def inbound_input(data: bytes) -> None:
                for parse in (parse_ack, parse_command):
                    with contextlib.suppress(DecodeError):
                        parse(data)

            return inbound_input
        if name == "command":
            return _command_target()
        if name == "control":
            return _control_target()
        if name == "gatt":
            from hub.sensors import gatt

            uuids = [
                gatt.HEART_RATE_MEASUREMENT,
                gatt.PLX_SPOT_CHECK_MEASUREMENT,
                gatt.PLX_CONTINUOUS_MEASUREMENT,
                gatt.BLOOD_PRESSURE_MEASUREMENT,
                gatt.BATTERY_LEVEL,
            ]

            def gatt_input(data: bytes) -> None:
                if not data:
                    return
                uuid = uuids[data[0] % len(uuids)]
                with contextlib.suppress(DecodeError):
                    gatt.decode_characteristic(uuid, data[1:], "C7:11:22:33:44:55", None)

            return gatt_input
    raise SystemExit(f"unknown target {name}")


def _command_target() -> Callable[[bytes], None]:
    """Messages separated by newlines, each a command (its first byte picks the name)
    and its payload, through the hub's command path in order."""
    import unicodedata

    from hub.errors import DecodeError
    from hub.sync.commands import CommandGate, Verdict, command_id, parse_test
    from hub.sync.messages import parse_command
    from hub.voice.prompts import SPEAK_MAX_CHARS, PromptRenderer, Speaker
    from hub.voice.speech_queue import Kind, SpeechQueue, Utterance

    names = ("test", "speak", "locate", "callback", "no_such")

    def never_render(*_args: Any) -> bytes:
        raise AssertionError("admitting text never renders it")

    def never_play(*_args: Any) -> None:
        raise AssertionError("admitting text never plays it")

    def command_input(data: bytes) -> None:
        gate = CommandGate()
        speaker = Speaker(
            PromptRenderer(Path("/nonexistent"), runner=never_render), player=never_play
        )
        queue = SpeechQueue()
        open_test, family_tests, now = False, 0, 0.0
        for i, message in enumerate(data.split(b"\n")[:64]):
            now += 60.0
            name = names[message[0] % len(names)] if message else "test"
            if i % 7 == 3:  # the elder's prompts keep coming in between
                assert queue.put(Utterance(Kind.PROMPT, "alarm_sent")).accepted
            try:
                args = parse_command(message[1:])
                ident = command_id(args)
                test = parse_test(args) if name == "test" else None
            except DecodeError:
                continue
            if not gate.first_time(name, ident):
                continue
            if test is not None:
                verdict = gate.judge_test(test, test_open=open_test, now=now)
                open_test = verdict is not Verdict.BUSY or open_test
                family_tests += verdict is Verdict.RAISE_WITH_FAMILY
                assert family_tests <= 1  # all within one day
            elif name == "speak" and isinstance(args.get("text"), str):
                text = speaker.admit_centre_text(args["text"], now)
                if text is not None:
                    assert len(text) <= SPEAK_MAX_CHARS
                    assert not any(unicodedata.category(c)[0] == "C" for c in text)
                    queue.put(Utterance(Kind.CENTRE, text))
        assert len(queue) <= queue.capacity

    return command_input


def _control_target() -> Callable[[bytes], None]:
    """One request's bytes through the control socket's reader, limits and dispatcher."""
    import asyncio

    from hub.control import MAX_REQUEST, ControlServer
    from hub.errors import HubError

    async def status(request: dict[str, Any]) -> dict[str, Any]:
        if request.get("fail"):
            raise HubError("refused")
        return {"hub": "GZ-000123"}

    server = ControlServer(Path("/nonexistent"), {"status": status, "events": status})
    loop = asyncio.new_event_loop()

    async def answer(data: bytes) -> dict[str, Any]:
        reader = asyncio.StreamReader(limit=MAX_REQUEST)
        reader.feed_data(data)
        reader.feed_eof()
        return await server._answer(reader)

    def control_input(data: bytes) -> None:
        reply = loop.run_until_complete(answer(data))
        json.dumps(reply)  # it can be sent
        assert isinstance(reply.get("ok"), bool) and (reply["ok"] or "error" in reply)

    return control_input


def _seed_files(name: str, corpus: Path) -> None:
    seeds = list(SEEDS[name])
    if name == "sms":
        from hub.sos.sms import encode_submit

        for text in ("平安通测试", "hello", "x" * 200, "【平安通】" * 30):
            seeds += [bytes.fromhex(p.pdu) for p in encode_submit("+8613800138000", text)]
    if name == "envelope":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from hub.sync import ota

        key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
        from datetime import UTC, datetime

        env = ota.sign_envelope(
            key,
            5,
            {"sos": {"ack_timeout_s": 20.0}},
            datetime(2026, 11, 23, tzinfo=UTC),
            hub="GZ-000123",
        )
        seeds.append(json.dumps(env).encode())
    if name == "gatt":
        seeds = [bytes([i]) + s for i, s in enumerate(seeds)]
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds):
        (corpus / f"seed-{i}").write_bytes(seed)


def run_target(name: str, runs: int, hang_s: int, workdir: Path) -> None:
    """In the child: fuzz one target for `runs` inputs (libFuzzer exits the process)."""
    import atheris

    one_input = _target(name)
    corpus = workdir / f"corpus-{name}"
    _seed_files(name, corpus)
    atheris.Setup(
        [
            sys.argv[0],
            f"-runs={runs}",
            f"-timeout={hang_s}",
            "-seed=1",
            "-max_len=4096",
            f"-artifact_prefix={workdir}/{name}-",
            "-print_final_stats=1",
            str(corpus),
        ],
        one_input,
    )
    atheris.Fuzz()


_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_COV = re.compile(r"cov: (\d+) ft: (\d+)")


def main() -> None:
    """Fuzz every target and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200_000, help="inputs per target")
    parser.add_argument("--hang-s", type=int, default=10, help="seconds before an input hangs")
    parser.add_argument("--only", default="", help="comma-separated targets")
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.target:
        run_target(args.target, args.runs, args.hang_s, Path(args.workdir))
        return
    targets = [t for t in args.only.split(",") if t] or list(TARGETS)
    print(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="pingan-fuzz-"))
    print(f"work directory (corpora, crashing inputs): {work}")
    print(f"{'target':9} {'inputs':>9} {'seconds':>8} {'coverage':>9} {'features':>9}  result")
    failed = False
    for name in targets:
        started = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.fuzz_atheris",
                "--target",
                name,
                "--runs",
                str(args.runs),
                "--hang-s",
                str(args.hang_s),
                "--workdir",
                str(work),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        out = proc.stdout + proc.stderr
        done = _DONE.search(out)
        cov = _COV.findall(out)
        crashes = sorted(p.name for p in work.glob(f"{name}-crash-*"))
        hangs = sorted(p.name for p in work.glob(f"{name}-timeout-*"))
        result = "ok" if proc.returncode == 0 and not crashes and not hangs else "FAILED"
        failed |= result != "ok"
        print(
            f"{name:9} {done.group(1) if done else '?':>9} "
            f"{time.monotonic() - started:8.0f} {cov[-1][0] if cov else '?':>9} "
            f"{cov[-1][1] if cov else '?':>9}  {result}"
            + (f" crashes {crashes}" if crashes else "")
            + (f" hangs {hangs}" if hangs else "")
        )
        if result != "ok":
            print(out[-4000:])
    print(f"load average: {os.getloadavg()}")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()

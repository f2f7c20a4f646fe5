"""Software updates, the pure parts: which update commands a hub obeys, which bundles it
installs, when a new root slot is kept and when the box goes back to the old one.

The long checks (a real image in a VM: N -> N+1 and back, a bad bundle rolled back, a
forged bundle refused) are in bench/vm_update.py; these are the decisions they rely on.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.sync import ota
from hub.update import apply, command, files, health
from hub.update.command import Refused, UpdateCommand
from hub.update.health import Observation, Verdict
from hub.update.state import Phase, UpdateState, boot_outcome, enough_space, report_payload
from tests.fuzzing import examples

HUB = "GZ-000123"
ISSUED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 1, 8, 5, tzinfo=UTC)
FLEET_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
STRANGER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
TRUSTED = [ota.public_key_text(FLEET_KEY)]
SHA = "ab" * 32
URL = "https://updates.example/pingan-hub-0.2.0.raucb"


def signed(key: Ed25519PrivateKey = FLEET_KEY, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "number": 7,
        "version": "0.2.0",
        "url": URL,
        "sha256": SHA,
        "size": 300_000_000,
        "issued_at": ISSUED,
        "hub": HUB,
    }
    fields.update(changes)
    return command.sign_command(key, **fields)


def judge(cmd: dict[str, Any], last_number: int = 0, groups: tuple[str, ...] = ()) -> Any:
    return command.verify_command(
        json.dumps(cmd).encode(),
        public_keys=TRUSTED,
        hub_id=HUB,
        groups=groups,
        last_number=last_number,
    )


def test_a_command_signed_with_the_fleet_key_for_this_hub_is_obeyed() -> None:
    assert judge(signed()) == UpdateCommand(7, "0.2.0", URL, SHA, 300_000_000)


def test_a_group_command_reaches_a_member_hub_only() -> None:
    cmd = signed(hub=None, group="guangzhou-tianhe")
    assert judge(cmd, groups=("guangzhou-tianhe",)).number == 7
    with pytest.raises(Refused) as refused:
        judge(cmd, groups=("fuzhou",))
    assert refused.value.reason == ota.WRONG_TARGET


def reason(cmd: dict[str, Any], last_number: int = 0) -> str:
    with pytest.raises(Refused) as refused:
        judge(cmd, last_number)
    return refused.value.reason


def test_an_unsigned_command_is_refused_as_unsigned() -> None:
    cmd = signed()
    del cmd["sig"]
    assert reason(cmd) == ota.UNSIGNED


def test_a_command_signed_by_a_stranger_is_refused_as_unknown_key() -> None:
    assert reason(signed(STRANGER_KEY)) == ota.UNKNOWN_KEY


def test_a_command_whose_bundle_was_swapped_after_signing_is_refused() -> None:
    cmd = signed()
    cmd["url"] = "https://evil.example/other.raucb"
    assert reason(cmd) == ota.BAD_SIGNATURE


def test_a_command_for_another_hub_is_refused() -> None:
    assert reason(signed(hub="GZ-999999")) == ota.WRONG_TARGET


def test_a_recorded_command_cannot_be_replayed() -> None:
    assert reason(signed(number=7), last_number=7) == ota.REPLAY
    assert reason(signed(number=6), last_number=7) == ota.REPLAY


def test_going_back_to_an_older_version_is_allowed_when_signed_as_a_new_command() -> None:
    assert judge(signed(number=8, version="0.1.0"), last_number=7).version == "0.1.0"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"url": "file:///etc/shadow"}, ota.MALFORMED),
        ({"url": "https://"}, ota.MALFORMED),
        ({"sha256": "AB" * 32}, ota.MALFORMED),
        ({"version": "../../x"}, ota.MALFORMED),
        ({"size": command.MAX_BUNDLE_BYTES + 1}, ota.OVERSIZED),
        ({"number": 0}, ota.MALFORMED),
    ],
)
def test_a_command_that_is_not_a_sane_update_is_refused(
    changes: dict[str, Any], expected: str
) -> None:
    assert reason(signed(**changes)) == expected


def test_an_oversized_command_is_refused_before_parsing() -> None:
    with pytest.raises(Refused) as refused:
        command.verify_command(
            b"{" + b" " * 5000 + b"}", public_keys=TRUSTED, hub_id=HUB, groups=(), last_number=0
        )
    assert refused.value.reason == ota.OVERSIZED


@given(st.binary(max_size=600))
@settings(max_examples=examples(200))
def test_any_bytes_are_a_command_or_a_clean_refusal(raw: bytes) -> None:
    try:
        command.verify_command(raw, public_keys=TRUSTED, hub_id=HUB, groups=(), last_number=0)
    except Refused as refused:
        assert refused.reason in ota.REASONS


# -- the bundle's manifest (rauc info) ------------------------------------------------------

PI = "pingan-hub-arm64"
MANIFEST = {
    "compatible": PI,
    "version": "0.2.0",
    "images": [{"rootfs": {"filename": "rootfs.ext4", "size": 1_300_000_000}}],
}


def test_a_bundle_for_this_hub_with_the_commanded_version_is_installed() -> None:
    assert command.bundle_problems(MANIFEST, version="0.2.0", compatible=PI) == []


def test_a_bundle_for_another_kind_of_box_or_version_is_refused_with_both_reasons() -> None:
    other = {**MANIFEST, "compatible": "raspberrypi-os", "version": "9.9"}
    assert command.bundle_problems(other, version="0.2.0", compatible=PI) == [
        "for 'raspberrypi-os', this hub is 'pingan-hub-arm64'",
        "carries version '9.9', not '0.2.0'",
    ]


def test_a_pc_bundle_is_refused_by_a_pi() -> None:
    pc = {**MANIFEST, "compatible": "pingan-hub-amd64"}
    assert command.bundle_problems(pc, version="0.2.0", compatible=PI) == [
        "for 'pingan-hub-amd64', this hub is 'pingan-hub-arm64'"
    ]


def test_the_hub_takes_its_kind_from_the_images_rauc_config(tmp_path: Path) -> None:
    conf = tmp_path / "system.conf"
    conf.write_text("[system]\ncompatible=pingan-hub-amd64\nbootloader=custom\n")
    assert files.compatible(conf) == "pingan-hub-amd64"
    conf.write_text("[keyring]\npath=/etc/rauc/keyring.pem\n")
    assert files.compatible(conf) == ""
    assert files.compatible(tmp_path / "missing.conf") == ""
    # "" matches no bundle: a hub without rauc's config installs nothing.
    assert command.bundle_problems(MANIFEST, version="0.2.0", compatible="") == [
        "for 'pingan-hub-arm64', this hub is ''"
    ]


def test_a_bundle_that_would_also_write_the_firmware_partition_is_refused() -> None:
    both = {**MANIFEST, "images": [*MANIFEST["images"], {"firmware": {"filename": "f.vfat"}}]}
    assert command.bundle_problems(both, version="0.2.0", compatible=PI) == [
        "must hold one rootfs image, holds ['rootfs', 'firmware']"
    ]


# -- what a boot means for the update -------------------------------------------------------


def installed(phase: Phase = Phase.REBOOTING) -> UpdateState:
    return UpdateState(number=7, version="0.2.0", from_version="0.1.0", slot="B").moved(
        phase, ISSUED
    )


def test_booting_the_new_slot_starts_its_trial() -> None:
    outcome = boot_outcome(installed(), "B", "0.2.0", LATER)
    assert outcome.trial
    assert outcome.state.phase is Phase.TRIAL
    assert outcome.state.history == ("rebooting", "trial")


def test_a_power_cut_during_the_trial_keeps_it_a_trial() -> None:
    trial = installed(Phase.TRIAL)
    assert boot_outcome(trial, "B", "0.2.0", LATER) == boot_outcome(trial, "B", "0.2.0", LATER)
    assert boot_outcome(trial, "B", "0.2.0", LATER).trial


def test_booting_the_old_slot_after_an_install_is_a_rollback_nobody_had_to_do() -> None:
    outcome = boot_outcome(installed(Phase.TRIAL), "A", "0.1.0", LATER)
    assert not outcome.trial
    assert outcome.state.phase is Phase.ROLLED_BACK
    assert outcome.state.error is not None
    assert outcome.state.error["reason"] == "not_booted"


def test_a_committed_update_is_not_judged_again_at_the_next_boot() -> None:
    committed = installed(Phase.COMMITTED)
    assert boot_outcome(committed, "B", "0.2.0", LATER) == apply_outcome(committed)


def apply_outcome(state: UpdateState) -> Any:
    from hub.update.state import BootOutcome

    return BootOutcome(state, trial=False)


def test_the_state_file_survives_a_round_trip_and_garbage_is_no_update() -> None:
    state = installed().moved(Phase.INSTALLING, LATER, progress=40)
    assert UpdateState.from_json(state.to_json()) == state
    assert UpdateState.from_json(b"\x00garbage") == UpdateState()
    assert UpdateState.from_json(b'{"phase": "exploded"}') == UpdateState()


def test_the_report_says_the_step_the_version_and_what_runs_now() -> None:
    state = installed(Phase.TRIAL).moved(
        Phase.ROLLED_BACK, LATER, error={"reason": "health_check", "message": "hub did not start"}
    )
    assert json.loads(
        report_payload(state, running_version="0.1.0", running_slot="A", at=LATER)
    ) == {
        "number": 7,
        "version": "0.2.0",
        "status": "rolled_back",
        "progress": None,
        "error": {"reason": "health_check", "message": "hub did not start"},
        "since": "2026-12-01T08:05:00Z",
        "running": {"version": "0.1.0", "slot": "A"},
        "history": ["trial", "rolled_back"],
        "at": "2026-12-01T08:05:00Z",
    }


def test_a_bundle_is_not_downloaded_when_it_would_leave_the_outbox_no_room() -> None:
    mib = 1024 * 1024
    assert enough_space(free_bytes=900 * mib, bundle_bytes=400 * mib, reserve_bytes=128 * mib)
    assert not enough_space(free_bytes=500 * mib, bundle_bytes=400 * mib, reserve_bytes=128 * mib)


# -- the health check's decision ------------------------------------------------------------

HEALTHY = Observation(hub_ready=True, hub_restarts=0, broker_connected=True, outbox_readable=True)
NO_BROKER = Observation(
    hub_ready=True, hub_restarts=0, broker_connected=False, outbox_readable=True
)
CRASHING = Observation(
    hub_ready=False, hub_restarts=5, broker_connected=False, outbox_readable=False
)


def test_a_new_slot_is_kept_once_hub_broker_and_outbox_are_all_fine() -> None:
    assert health.decide(True, HEALTHY, 40.0, 600.0) is Verdict.GOOD


def test_a_new_slot_whose_hub_keeps_crashing_is_rolled_back_without_waiting() -> None:
    assert health.decide(True, CRASHING, 12.0, 600.0) is Verdict.BAD


def test_a_new_slot_that_cannot_reach_the_broker_waits_then_rolls_back() -> None:
    assert health.decide(True, NO_BROKER, 300.0, 600.0) is Verdict.WAIT
    assert health.decide(True, NO_BROKER, 600.0, 600.0) is Verdict.BAD
    assert health.failure_message(NO_BROKER, 600.0) == "after 600 s: the broker was not reached"


def test_a_committed_slot_is_never_rolled_back_by_a_broker_outage() -> None:
    assert health.decide(False, NO_BROKER, 86_400.0, 600.0) is Verdict.GOOD
    assert health.decide(False, CRASHING, 86_400.0, 600.0) is Verdict.WAIT


# -- the root side's health check, with the system's programs faked ------------------------


class FakeSystem:
    """Answers systemctl and rauc like a box whose new hub never starts."""

    def __init__(self, active: str, restarts: int) -> None:
        self.calls: list[list[str]] = []
        self.active, self.restarts = active, restarts

    def run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv)
        out = ""
        if argv[:2] == ["systemctl", "show"]:
            out = f"ActiveState={self.active}\nNRestarts={self.restarts}\n"
        return subprocess.CompletedProcess(argv, 0, out, "")


def test_a_new_slot_whose_hub_exits_at_start_is_marked_bad_and_the_box_reboots(
    tmp_path: Path,
) -> None:
    files.write_state(tmp_path, installed(Phase.REBOOTING))
    fake = FakeSystem("activating", restarts=5)
    code = apply.health_check(
        tmp_path, apply.System(fake.run), tmp_path / "no.sock", booted=("B", "0.2.0")
    )
    assert code == 0
    assert fake.calls[-2:] == [["rauc", "status", "mark-bad"], ["systemctl", "reboot"]]
    # The hub's sandbox cannot read /proc/cmdline: the check tells it the slot.
    assert files.booted_path(tmp_path).read_text() == "B"
    state = files.read_state(tmp_path)
    assert state.phase is Phase.ROLLED_BACK
    assert state.error is not None and state.error["reason"] == "health_check"


def test_the_old_slot_after_a_rollback_is_marked_good_once_its_hub_is_up(tmp_path: Path) -> None:
    files.write_state(tmp_path, installed(Phase.TRIAL))
    fake = FakeSystem("active", restarts=0)
    code = apply.health_check(
        tmp_path, apply.System(fake.run), tmp_path / "no.sock", booted=("A", "0.1.0"), deadline_s=0
    )
    # No control socket here: the hub counts as not up, so the old slot is left as it is
    # (its tries untouched) rather than marked good blind; the rollback is recorded.
    assert code == 0
    assert ["rauc", "status", "mark-bad", "other"] in fake.calls
    assert ["systemctl", "reboot"] not in fake.calls
    assert files.read_state(tmp_path).phase is Phase.ROLLED_BACK


# -- the contract ---------------------------------------------------------------------------


def test_every_report_and_the_command_match_the_asyncapi_contract() -> None:
    import jsonschema
    import yaml

    contract = yaml.safe_load((Path(__file__).parents[1] / "docs" / "asyncapi.yaml").read_text())
    schemas = contract["components"]["schemas"]
    resolver = {"components": {"schemas": schemas}}

    def check(schema_name: str, obj: Any) -> None:
        jsonschema.validate(obj, {**schemas[schema_name], **resolver})

    check("UpdateCommand", signed())
    for state in (
        installed(Phase.TRIAL).moved(Phase.COMMITTED, LATER),
        UpdateState().moved(Phase.REJECTED, LATER, error={"reason": "unknown_key", "message": "x"}),
        installed(Phase.DOWNLOADING).moved(Phase.DOWNLOADING, LATER, progress=40),
    ):
        report = report_payload(state, running_version="0.1.0", running_slot="A", at=LATER)
        check("UpdateReported", json.loads(report))


def test_the_health_check_finds_the_data_directory_of_a_slot_whose_config_is_broken(
    tmp_path: Path,
) -> None:
    from hub.update.admin import _paths

    broken = tmp_path / "config.toml"
    broken.write_text("[hub]\nid = 'VM-0001'\ndata_dir = '/srv/hub'\nno_such = 1\n")
    assert _paths(broken) == (Path("/srv/hub"), Path("/srv/hub/control.sock"))
    broken.write_text("not toml at all [[[")
    assert _paths(broken) == (Path("/var/lib/pingan-hub"), Path("/var/lib/pingan-hub/control.sock"))


def test_reports_name_the_slot_the_health_check_wrote_for_this_boot(tmp_path: Path) -> None:
    """The hub starts before the health check: booted-slot still names the boot before."""
    import asyncio

    from hub.config import parse_config
    from hub.update.agent import UpdateAgent

    cfg = parse_config({"hub": {"id": "VM-0001", "data_dir": str(tmp_path)}})
    files.update_dir(tmp_path).mkdir()
    files.booted_path(tmp_path).write_text("A")  # left by the boot that installed slot B
    files.write_state(tmp_path, installed(Phase.REBOOTING))
    sent: list[dict[str, Any]] = []
    agent = UpdateAgent(
        cfg,
        publish=lambda _topic, payload: sent.append(json.loads(payload)) is None,
        now=lambda: LATER,
        release=tmp_path / "no-release",
        cmdline=tmp_path / "no-cmdline",  # the sandbox hides /proc/cmdline
    )
    asyncio.run(agent._publish_state())
    # Then the health check of this boot: booted-slot first, then the trial state.
    files.booted_path(tmp_path).write_text("B")
    files.write_state(tmp_path, boot_outcome(installed(), "B", "0.2.0", LATER).state)
    asyncio.run(agent._publish_state())
    assert [r["status"] for r in sent] == ["rebooting", "trial"]
    assert sent[-1]["running"]["slot"] == "B"

"""Signed fleet config: what a hub accepts, what it refuses and why, and how it falls back.

A forged or broken config must never silence a hub: every refusal names a stable reason
and leaves the running config exactly as it was.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.config import parse_config
from hub.errors import StoreError
from hub.store.config_store import ConfigStore, FleetState
from hub.sync import ota
from hub.sync.ota import Accepted, ApplyGuard, Rejected, ReportStatus, RollBack
from tests.fuzzing import examples

HUB = "GZ-000123"
ISSUED = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
FLEET_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
STRANGER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
TRUSTED = [ota.public_key_text(FLEET_KEY)]

# The installer's local file on this hub.
LOCAL: dict[str, Any] = {
    "hub": {"id": HUB, "data_dir": "/var/lib/pingan-hub"},
    "mqtt": {"host": "mqtt.gz.example", "port": 8883, "tls": True},
    "gpio": {"pin_factory": "mock"},
    "sos": {"ack_timeout_s": 30.0, "resend_s": 10.0},
}
RUNNING = parse_config(LOCAL)

NEW_CARE = {"sos": {"ack_timeout_s": 20.0, "resend_s": 5.0}}


def envelope(
    config: dict[str, Any] | None = None,
    *,
    version: int = 5,
    key: Ed25519PrivateKey = FLEET_KEY,
    hub: str | None = HUB,
    group: str | None = None,
) -> dict[str, Any]:
    return ota.sign_envelope(
        key,
        version,
        NEW_CARE if config is None else config,
        ISSUED,
        hub=None if group else hub,
        group=group,
    )


def wire(env: dict[str, Any]) -> bytes:
    return json.dumps(env, ensure_ascii=False).encode()


def judge(
    raw: bytes,
    *,
    current_version: int = 4,
    max_bytes: int = ota.DEFAULT_MAX_BYTES,
    now: datetime = ISSUED + timedelta(minutes=1),
    clock_synced: bool = True,
    current_digest: str | None = None,
) -> Any:
    return ota.verify_envelope(
        raw,
        public_keys=TRUSTED,
        hub_id=HUB,
        groups=["guangzhou-tianhe"],
        current_version=current_version,
        current_digest=current_digest,
        base=LOCAL,
        now=now,
        clock_synced=clock_synced,
        max_bytes=max_bytes,
    )


def refused(raw: bytes, **kwargs: Any) -> Rejected:
    with pytest.raises(Rejected) as info:
        judge(raw, **kwargs)
    assert info.value.reason in ota.REASONS
    return info.value


# -- accepted ----------------------------------------------------------------------------


def test_admin_shortens_the_alarm_ack_timeout_and_moves_the_broker() -> None:
    pushed = {
        "sos": {"ack_timeout_s": 20.0, "resend_s": 5.0},
        "mqtt": {"host": "mqtt2.gz.example", "heartbeat_s": 30},
    }
    result = judge(wire(envelope(pushed, version=5)))
    assert isinstance(result, Accepted)
    assert result.version == 5
    assert result.overlay == pushed
    assert result.config.sos.ack_timeout_s == 20.0
    assert result.config.sos.resend_s == 5.0
    assert result.config.mqtt.host == "mqtt2.gz.example"
    assert result.config.mqtt.heartbeat_s == 30.0
    # Everything the push did not mention is the installer's, untouched.
    assert result.config.mqtt.port == 8883
    assert result.config.mqtt.tls is True
    assert result.config.hub == RUNNING.hub
    assert result.config.gpio == RUNNING.gpio


def test_a_group_push_reaches_a_hub_of_that_group() -> None:
    result = judge(wire(envelope(group="guangzhou-tianhe", version=9)))
    assert result.version == 9
    assert result.config.sos.ack_timeout_s == 20.0


def test_a_new_contact_list_replaces_the_old_one_whole() -> None:
    base = {**LOCAL, "escalation": {"contacts": [{"name": "甲", "number": "+8613800138000"}]}}
    pushed = {"escalation": {"contacts": [{"name": "乙", "number": "+8613900139000"}]}}
    merged = ota.merge_config(base, pushed)
    assert merged["escalation"]["contacts"] == pushed["escalation"]["contacts"]
    assert merged["sos"] == LOCAL["sos"]
    assert ota.merge_config(LOCAL, {}) == LOCAL


def test_a_signer_in_another_language_signs_these_exact_bytes() -> None:
    env = {"version": 3, "sig": "x", "config": {"b": 1, "a": "平安"}, "hub": HUB}
    assert ota.canonical_bytes(env) == (
        '{"config":{"a":"平安","b":1},"hub":"GZ-000123","version":3}'.encode()
    )


# -- refused: each with its reason, the running config untouched -----------------------


def test_an_unsigned_config_is_refused() -> None:
    env = envelope()
    del env["sig"]
    assert refused(wire(env)).reason == "unsigned"
    env["sig"] = ""
    assert refused(wire(env)).reason == "unsigned"


def test_a_config_signed_by_a_stranger_is_refused() -> None:
    assert refused(wire(envelope(key=STRANGER_KEY))).reason == "unknown_key"


def test_a_config_altered_after_signing_is_refused() -> None:
    env = envelope()
    env["config"] = {"sos": {"ack_timeout_s": 3600.0}}  # someone silences the escalation
    assert refused(wire(env)).reason == "bad_signature"


def test_a_stranger_who_claims_the_fleet_key_is_refused() -> None:
    env = envelope(key=STRANGER_KEY)
    env["key"] = TRUSTED[0]
    assert refused(wire(env)).reason == "bad_signature"


def test_a_replayed_old_config_is_refused() -> None:
    old = wire(envelope(version=3))
    error = refused(old, current_version=4)
    assert (error.reason, error.version, error.should_report) == ("downgrade", None, False)


def test_the_retained_copy_of_the_current_version_is_a_quiet_replay() -> None:
    error = refused(wire(envelope(version=4)), current_version=4)
    assert (error.reason, error.version, error.should_report) == ("replay", 4, False)
    same = ota.envelope_digest(envelope(version=4))
    error = refused(wire(envelope(version=4)), current_version=4, current_digest=same)
    assert (error.reason, error.digest, error.should_report) == ("replay", same, False)


def test_the_same_version_with_other_content_is_reported_as_a_conflict() -> None:
    first = ota.envelope_digest(envelope(version=4))
    other = wire(envelope({"sos": {"ack_timeout_s": 25.0}}, version=4))
    error = refused(other, current_version=4, current_digest=first)
    assert (error.reason, error.version, error.should_report) == ("version_conflict", 4, True)
    assert not error.seen  # the version seen keeps the content it was first seen with


# -- issued_at ---------------------------------------------------------------------------

DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("issued", "verdict"),
    [
        (ISSUED, None),
        (ISSUED - timedelta(days=30), None),  # a month waiting for a hub that was off
        (ISSUED - timedelta(days=30, seconds=1), "stale"),
        (datetime(1970, 1, 1, tzinfo=UTC), "stale"),
        (ISSUED + timedelta(minutes=10), None),  # an admin clock a little fast
        (ISSUED + timedelta(minutes=10, seconds=1), "from_future"),
        (datetime(9999, 12, 31, tzinfo=UTC), "from_future"),
    ],
)
def test_issued_at_must_be_within_a_month_behind_and_ten_minutes_ahead_of_a_synced_clock(
    issued: datetime, verdict: str | None
) -> None:
    assert ota.check_issued_at(issued, ISSUED, clock_synced=True) == verdict


@pytest.mark.parametrize(
    ("issued", "verdict"),
    [
        (ISSUED + 300 * DAY, None),  # the clock may be far behind (no RTC, no NTP yet)
        (datetime(2026, 1, 1, tzinfo=UTC), None),
        (datetime(2025, 12, 31, 23, 59, tzinfo=UTC), "stale"),  # before this software
        (datetime(1970, 1, 1, tzinfo=UTC), "stale"),
        (datetime(2099, 12, 31, tzinfo=UTC), None),
        (datetime(9999, 1, 1, tzinfo=UTC), "from_future"),
    ],
)
def test_without_a_synced_clock_only_impossible_times_are_refused(
    issued: datetime, verdict: str | None
) -> None:
    now = datetime(2026, 2, 1, tzinfo=UTC)  # a Pi on its last saved time
    assert ota.check_issued_at(issued, now, clock_synced=False) == verdict


def test_an_envelope_from_9999_or_1970_is_refused_and_not_remembered() -> None:
    for year in (9999, 1970):
        env = ota.sign_envelope(FLEET_KEY, 5, NEW_CARE, datetime(year, 1, 1, tzinfo=UTC), hub=HUB)
        error = refused(wire(env))
        assert error.reason in ("stale", "from_future") and error.version == 5
        assert error.should_report and not error.seen  # judged again once the clock is right
        assert "issued_at" in error.message and "hub's clock" in error.message
    late = ota.sign_envelope(FLEET_KEY, 5, NEW_CARE, ISSUED + 2 * DAY, hub=HUB)
    with pytest.raises(Rejected):
        judge(wire(late))  # the hub's clock says two days earlier: not yet
    assert judge(wire(late), now=ISSUED + 2 * DAY).version == 5  # once it is right


def test_a_config_for_another_hub_is_refused() -> None:
    assert refused(wire(envelope(hub="GZ-000999"))).reason == "wrong_target"
    assert refused(wire(envelope(group="fuzhou-gulou"))).reason == "wrong_target"


def test_a_config_that_fails_the_local_validator_is_refused() -> None:
    error = refused(wire(envelope({"sos": {"ack_timeout_s": 5.0}})))  # below resend_s
    assert error.reason == "invalid_config"
    assert "sos.resend_s" in error.message
    assert error.version == 5  # authentic: remembered so its retained copy is not re-judged


@pytest.mark.parametrize(
    ("pushed", "option"),
    [
        ({"hub": {"id": "GZ-666"}}, "hub.id"),
        ({"hub": {"data_dir": "/tmp"}}, "hub.data_dir"),
        ({"gpio": {"sos_pin": 5}}, "[gpio]"),
        ({"control": {"socket": "/tmp/x"}}, "[control]"),
        ({"sos": 3}, "[sos]"),
    ],
)
def test_a_push_cannot_rename_move_or_rewire_a_hub(pushed: dict[str, Any], option: str) -> None:
    error = refused(wire(envelope(pushed)))
    assert error.reason == "invalid_config"
    assert option in error.message


def test_an_oversized_config_is_refused_before_it_is_parsed() -> None:
    raw = wire(envelope()) + b" " * ota.DEFAULT_MAX_BYTES
    assert refused(raw).reason == "oversized"
    assert refused(wire(envelope()), max_bytes=100).reason == "oversized"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff\xfe garbage",
        b"[1, 2]",
        b"null",
        b'{"sig": "abc"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"version": NaN}',
        json.dumps({"sig": "a", "x": [[[[[[[[[[[1]]]]]]]]]]]}).encode(),
    ],
    ids=["empty", "binary", "array", "null", "no-fields", "deep-json", "nan", "deep-object"],
)
def test_garbage_is_refused_as_malformed(raw: bytes) -> None:
    assert refused(raw).reason == "malformed"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", "5"),
        ("version", True),
        ("version", 0),
        ("version", 2**60),
        ("issued_at", "yesterday"),
        ("config", [1]),
        ("hub", 7),
        ("key", "not base64!"),
        ("extra", 1),
    ],
)
def test_a_signed_envelope_with_wrong_types_is_malformed(field: str, value: Any) -> None:
    env = envelope()
    env[field] = value
    assert refused(wire(env)).reason == "malformed"


def test_a_signed_timeout_of_nan_is_malformed_not_a_silent_alarm() -> None:
    raw = wire(envelope({"sos": {"ack_timeout_s": 20.0}}))
    raw = raw.replace(b'"ack_timeout_s": 20.0', b'"ack_timeout_s": NaN')
    assert refused(raw).reason == "malformed"


def test_both_targets_at_once_is_malformed() -> None:
    env = envelope()
    env["group"] = "guangzhou-tianhe"
    assert refused(wire(env)).reason == "malformed"


@settings(max_examples=examples(1500), deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_are_accepted_or_refused_never_a_crash(raw: bytes) -> None:
    try:
        judge(raw)
    except Rejected as exc:
        assert exc.reason in ota.REASONS


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)


@settings(max_examples=examples(800), deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(ota._ENVELOPE_KEYS)), json_values))
def test_any_json_object_is_accepted_or_refused_never_a_crash(obj: dict[str, Any]) -> None:
    try:
        judge(json.dumps(obj).encode())
    except Rejected as exc:
        assert exc.reason in ota.REASONS


@settings(max_examples=examples(300), deadline=None)
@given(st.dictionaries(st.sampled_from(["hub", "mqtt", "sos", "gpio"]), json_values))
def test_any_signed_config_is_accepted_or_refused_never_a_crash(config: dict[str, Any]) -> None:
    try:
        judge(wire(envelope(config)))
    except Rejected as exc:
        assert exc.reason in ota.REASONS


def test_a_hub_starts_on_the_newest_config_that_still_validates() -> None:
    broken_by_local_edit = {"sos": {"ack_timeout_s": 5.0}}  # below the local resend_s
    version, config, skipped = ota.startup_config(LOCAL, [(6, broken_by_local_edit), (5, NEW_CARE)])
    assert (version, config.sos.ack_timeout_s) == (5, 20.0)
    assert len(skipped) == 1
    assert skipped[0].startswith("fleet config version 6 skipped: sos.resend_s")
    assert ota.startup_config(LOCAL, []) == (0, RUNNING, [])


# -- reported ----------------------------------------------------------------------------


def test_the_centre_reads_applied_and_rejected_reports() -> None:
    at = datetime(2026, 11, 23, 8, 1, 2, tzinfo=UTC)
    assert json.loads(ota.reported_payload(5, ReportStatus.APPLIED, at)) == {
        "version": 5,
        "status": "applied",
        "error": None,
        "at": "2026-11-23T08:01:02Z",
    }
    error = refused(wire(envelope(key=STRANGER_KEY)))
    assert json.loads(ota.reported_payload(None, ReportStatus.REJECTED, at, error=error)) == {
        "version": None,
        "status": "rejected",
        "error": {
            "reason": "unknown_key",
            "message": "signed by a key that is not a fleet key of this hub",
        },
        "at": "2026-11-23T08:01:02Z",
    }
    rolled = ota.reported_payload(
        6, ReportStatus.ROLLED_BACK, at, message="no broker connection within 120 s"
    )
    assert json.loads(rolled)["error"] == {
        "reason": "rolled_back",
        "message": "no broker connection within 120 s",
    }


# -- rollback ----------------------------------------------------------------------------


def test_a_config_that_cannot_reach_the_broker_is_rolled_back() -> None:
    guard = ApplyGuard(rollback_after_s=60.0)
    guard.on_applied(7, now=1000.0)
    assert guard.tick(1030.0) is None
    assert guard.tick(1059.9) is None
    assert guard.tick(1060.0) == RollBack(7)
    assert guard.tick(1200.0) is None  # once


def test_a_config_that_connects_is_kept() -> None:
    guard = ApplyGuard(rollback_after_s=60.0)
    assert guard.on_connected(10.0) is None  # nothing on trial
    guard.on_applied(7, now=1000.0)
    assert guard.on_connected(1010.0) == 7
    assert guard.tick(5000.0) is None


# -- the store ---------------------------------------------------------------------------


def test_the_applied_config_and_the_versions_seen_survive_a_restart(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    assert store.load() == FleetState()
    store.apply(5, NEW_CARE)
    store.confirm(5)
    store.apply(6, {"mqtt": {"host": "nowhere.invalid"}})
    again = ConfigStore(tmp_path).load()
    assert again.seen_version == 6
    assert (again.applied.version, again.applied.confirmed) == (6, False)
    assert (again.last_good.version, again.last_good.overlay) == (5, NEW_CARE)
    assert (store.path.stat().st_mode & 0o777) == 0o600


def test_rolling_back_restores_the_last_good_and_never_reapplies_the_bad(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    store.apply(5, NEW_CARE)
    store.confirm(5)
    store.apply(6, {"mqtt": {"host": "nowhere.invalid"}})
    state = store.roll_back()
    assert (state.applied.version, state.applied.overlay, state.applied.confirmed) == (
        5,
        NEW_CARE,
        True,
    )
    assert state.seen_version == 6
    # The retained bad envelope comes back on the next connection: a quiet replay.
    raw = wire(envelope({"mqtt": {"host": "nowhere.invalid"}}, version=6))
    assert refused(raw, current_version=state.seen_version).reason == "replay"


def test_a_refused_authentic_version_is_remembered(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    assert store.record_seen(8).seen_version == 8
    assert store.record_seen(3).seen_version == 8
    assert store.load().applied.version == 0


def test_the_content_of_the_version_seen_is_remembered_across_a_restart(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    store.apply(5, NEW_CARE, "d5")
    assert ConfigStore(tmp_path).load().seen_digest == "d5"
    store.record_seen(6, "d6")
    assert (store.load().seen_version, store.load().seen_digest) == (6, "d6")
    store.apply(4, {}, "d4")  # an older version applied (a rollback path): 6 stays seen
    assert (store.load().seen_version, store.load().seen_digest) == (6, "d6")
    # A file from before digests were kept: the first copy seen again fills it in.
    legacy = ConfigStore(tmp_path / "old")
    legacy.record_seen(7)
    assert legacy.load().seen_digest == ""
    assert legacy.record_seen(7, "d7").seen_digest == "d7"


def test_a_torn_or_foreign_file_is_a_store_error(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    store.path.write_text('{"format": 1, "seen_')
    with pytest.raises(StoreError):
        store.load()


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from hub.store.config_store import ConfigStore
    store = ConfigStore(Path(sys.argv[1]))
    version = store.load().applied.version
    print("ready", flush=True)
    while True:
        version += 1
        # Big enough that a non-atomic write would be torn often.
        store.apply(version, {"escalation": {"centre_numbers": ["+8620" + str(version)] * 400}})
    """
)


def test_a_power_cut_mid_write_leaves_the_old_or_the_new_config(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    store = ConfigStore(tmp_path)
    last = 0
    for round_ in range(15):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, env=env
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(0.02 + 0.01 * (round_ % 5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        state = store.load()  # parses: never a mix
        numbers = state.applied.overlay["escalation"]["centre_numbers"]
        assert numbers == [f"+8620{state.applied.version}"] * 400
        assert state.applied.version >= last
        last = state.applied.version
    assert last > 15
    assert [p.name for p in tmp_path.iterdir()] == [store.path.name]  # cut writes swept

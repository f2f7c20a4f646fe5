"""The pages' pure parts: PINs and lockout, sessions, the both-buttons gesture, permit
join, the walk-test report, and reading the home's Wi-Fi signal from procfs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hub.sensors.signal import (
    LinkSignal,
    WifiSignal,
    default_interface,
    good_ble,
    good_cell,
    good_round_trip,
    good_wifi,
    link_signal,
    parse_wireless,
)
from hub.web.access import (
    MAX_SESSIONS,
    Access,
    BothHeld,
    LoginResult,
    Role,
    allowed_host,
    split_host,
)
from hub.web.join import CheckItem as Item
from hub.web.join import PermitJoin, WalkTest
from hub.web.server import spoken_pin

# /proc/net/wireless, recorded: a Pi 3 (brcmfmac, dBm), and an old driver that reports the
# level unsigned (256 - 61 = 195) beside a second interface with no level at all.
PI3_WIRELESS = """Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE
 face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22
 wlan0: 0000   54.  -56.  -256        0      0      0      0      0        0
"""
OLD_DRIVER_WIRELESS = """Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE
 face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22
  wlan1: 0000   40.  195.  0        0      0      0      0      0        0
  wlan2: 0000   0   0   0        0      0      0      0      0        0
"""
ROUTE_WLAN0 = """Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT
eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t303\t00000000\t0\t0\t0
"""
ROUTE_ETH0 = ROUTE_WLAN0.replace("wlan0\t00000000", "eth0\t00000000")
ROUTE_WWAN0 = ROUTE_WLAN0.replace("wlan0\t00000000", "wwan0\t00000000")


def access(**kw: float) -> Access:
    values = {
        "installer_pin_s": 1800.0,
        "installer_session_s": 3600.0,
        "family_session_s": 86400.0,
        "max_attempts": 5,
        "lockout_s": 300.0,
    }
    values.update(kw)
    a = Access(**values)  # type: ignore[arg-type]
    a.new_family_pin()
    return a


def test_wifi_signal_is_read_from_a_pi_and_an_old_driver() -> None:
    assert parse_wireless(PI3_WIRELESS) == [WifiSignal("wlan0", 54.0, -56)]
    assert parse_wireless(OLD_DRIVER_WIRELESS) == [
        WifiSignal("wlan1", 40.0, -61),
        WifiSignal("wlan2", 0.0, None),
    ]
    assert parse_wireless("") == []


def test_the_uplink_kind_follows_the_default_route() -> None:
    assert default_interface(ROUTE_WLAN0) == "wlan0"
    assert link_signal(PI3_WIRELESS, ROUTE_WLAN0) == LinkSignal(
        "wifi", WifiSignal("wlan0", 54.0, -56)
    )
    assert link_signal(PI3_WIRELESS, ROUTE_ETH0).uplink == "ethernet"
    assert link_signal("", ROUTE_WWAN0) == LinkSignal("cellular", None)
    assert link_signal("", "") == LinkSignal("none", None)


@given(st.text())
def test_any_procfs_text_gives_a_reading_or_nothing_never_an_error(text: str) -> None:
    link_signal(text, text)


def test_verdicts_say_good_or_poor_and_unknown_without_a_figure() -> None:
    assert (good_wifi(-67), good_wifi(-68), good_wifi(None)) == (True, False, None)
    assert (good_cell(-93), good_cell(-101), good_cell(None)) == (True, False, None)
    assert (good_ble(-80), good_ble(-88)) == (True, False)
    assert (good_round_trip(0.05), good_round_trip(1.2)) == (True, False)


def test_the_installer_pin_works_once_and_expires_unused() -> None:
    a = access(installer_pin_s=600)
    pin, left = a.installer_pin(0.0)
    assert len(pin) == 6 and pin.isdigit() and left == 600
    assert a.installer_pin(10.0)[0] == pin  # asked again: the same PIN until it is used
    result = a.login(pin, 20.0)
    assert result.session is not None and result.session.role is Role.INSTALLER
    assert a.login(pin, 21.0).reason == "wrong"  # one use
    late = a.installer_pin(100.0)[0]
    assert a.login(late, 100.0 + 601).session is None  # expired unused


def test_wrong_pins_lock_out_every_pin_and_burn_the_installer_pin() -> None:
    a = access(max_attempts=3, lockout_s=60)
    pin, _ = a.installer_pin(0.0)
    wrong = "1" * 6 if pin != "1" * 6 else "2" * 6
    assert a.login(wrong, 1.0) == LoginResult(None, "wrong", attempts_left=2)
    assert a.login(wrong, 2.0) == LoginResult(None, "wrong", attempts_left=1)
    assert a.login(wrong, 3.0) == LoginResult(None, "locked", retry_after_s=60)
    assert a.login(a.family_pin, 30.0).reason == "locked"
    assert a.login(pin, 64.0).reason == "wrong"  # the lockout burnt it
    assert a.login(a.family_pin, 64.0).session is not None
    assert a.installer_pin(64.0)[0] != ""  # a fresh one can be asked for


def test_a_right_pin_resets_the_count_of_wrong_ones() -> None:
    a = access(max_attempts=3)
    for _ in range(2):
        a.login("00000000", 1.0)
    assert a.login(a.family_pin, 2.0).session is not None
    assert a.login("00000000", 3.0).attempts_left == 2


def test_the_family_pin_buys_no_more_guesses_at_the_installer_pin() -> None:
    # A family member (read-only) logging in between wrong guesses resets the lockout
    # count; it must not give an unbounded number of tries at the installer PIN.
    a = access(max_attempts=3)
    pin, _ = a.installer_pin(0.0)
    wrong = [f"{n:06d}" for n in range(1000) if f"{n:06d}" != pin]
    for i in range(3):
        assert a.login(wrong[2 * i], 1.0).reason == "wrong"
        assert a.login(wrong[2 * i + 1], 1.0).reason == "wrong"
        assert a.login(a.family_pin, 1.0).session is not None
    assert a.login(pin, 2.0).session is None  # burnt after max_attempts guesses at it
    fresh, _ = a.installer_pin(3.0)
    assert a.login(fresh, 3.0).session is not None  # the installer asks for a new one


def test_sessions_end_when_idle_and_when_the_family_pin_changes() -> None:
    a = access(installer_session_s=100, family_session_s=1000)
    installer = a.login(a.installer_pin(0.0)[0], 0.0).session
    family = a.login(a.family_pin, 0.0).session
    assert installer is not None and family is not None
    assert a.session(installer.token, 90.0) is installer  # use keeps it alive
    assert a.session(installer.token, 180.0) is installer
    assert a.session(installer.token, 270.0, touch=False) is installer  # a live page looks
    assert a.session(installer.token, 281.0) is None  # 101 s without a request
    assert a.session("forged", 0.0) is None and a.session(None, 0.0) is None
    old_pin = a.family_pin
    a.new_family_pin()
    assert a.family_pin != old_pin and a.session(family.token, 1.0) is None
    assert a.login(old_pin, 2.0).session is None


def test_a_flood_of_logins_keeps_a_bounded_number_of_sessions() -> None:
    a = access()
    for i in range(MAX_SESSIONS * 3):
        assert a.login(a.family_pin, float(i)).session is not None
    assert len(a.sessions) == MAX_SESSIONS


def test_both_buttons_held_fires_once_per_hold() -> None:
    both = BothHeld(5.0)
    assert not both.update(True, 0.0)
    assert not both.update(True, 4.9)
    assert both.update(True, 5.0)
    assert not both.update(True, 9.0)  # still held: not again
    assert not both.update(False, 9.5)
    assert not both.update(True, 10.0) and not both.update(False, 12.0)  # short hold
    assert not both.update(True, 13.0) and both.update(True, 18.0)


def test_permit_join_offers_only_devices_heard_while_it_is_open() -> None:
    join = PermitJoin(120)
    assert not join.heard("rf:a", "rflink", "switch", None, 0.0)
    join.open(10.0)
    assert join.remaining(70.0) == 60.0
    assert join.heard("rf:b", "rflink", "switch", None, 20.0)
    assert join.heard("ble:c", "bthome", "presence", -70, 30.0)
    assert not join.heard("rf:d", "rflink", "switch", None, 131.0)  # window closed
    assert join.heard("ble:c", "bthome", "presence", None, 200.0)  # known: still counted
    assert join.candidates["ble:c"].count == 2 and join.candidates["ble:c"].rssi == -70
    join.paired("rf:b")
    assert list(join.candidates) == ["ble:c"]


def test_the_walk_test_report_says_which_devices_answered() -> None:
    walk = WalkTest(started="2026-11-24T08:00:00+00:00")
    walk.items["rf:door"] = Item("rf:door", "大门", "门口", "door")
    walk.items["ble:pendant"] = Item("ble:pendant", "胸牌", "卧室", "wearable")
    assert walk.heard("rf:door", "2026-11-24T08:01:00+00:00")
    assert not walk.heard("rf:door", "2026-11-24T08:02:00+00:00")  # ticked once
    assert not walk.heard("rf:stranger", "2026-11-24T08:02:00+00:00")
    walk.alarm_id, walk.alarm_state = "01a2", "acknowledged"
    walk.id = "walk-1"
    assert walk.report("2026-11-24T08:05:00+00:00") == {
        "id": "walk-1",
        "started": "2026-11-24T08:00:00+00:00",
        "ended": "finished",
        "finished": "2026-11-24T08:05:00+00:00",
        "devices": [
            {
                "device": "rf:door",
                "name": "大门",
                "room": "门口",
                "kind": "door",
                "ok": True,
                "heard_at": "2026-11-24T08:01:00+00:00",
            },
            {
                "device": "ble:pendant",
                "name": "胸牌",
                "room": "卧室",
                "kind": "wearable",
                "ok": False,
                "heard_at": None,
            },
        ],
        "passed": 1,
        "total": 2,
        "test_alarm": {"id": "01a2", "state": "acknowledged"},
        "test_alarms": [],
        "complete": False,
    }


def test_the_walk_test_flags_only_its_own_devices_alarms_and_only_until_it_ends() -> None:
    walk = WalkTest(started="2026-11-24T08:00:00+00:00", id="walk-1", deadline=1800.0)
    walk.items["rf:smoke"] = Item("rf:smoke", "厨房烟感", "厨房", "smoke")
    assert walk.flags("rf:smoke", False, 10.0)  # the installer pressing the test button
    assert not walk.flags("rf:gas", False, 10.0)  # not on the checklist: a real alarm
    assert not walk.flags(None, False, 10.0)  # an inactivity alarm: real
    assert walk.flags("control", True, 10.0)  # the page's own test alarm joins the walk
    assert not walk.flags("rf:smoke", False, 1800.0)  # forgotten: real again at the deadline
    assert walk.remaining(1000.0) == 800.0 and walk.remaining(2000.0) == 0.0
    walk.flagged("01smoke")
    walk.flagged("01sos")
    report = walk.report("2026-11-24T08:30:00+00:00", "timeout")
    assert report["ended"] == "timeout" and report["test_alarms"] == ["01smoke", "01sos"]
    assert report["test_alarm"]["id"] == "01smoke"  # the first one is its test alarm


def test_the_pin_is_spoken_digit_by_digit_twice() -> None:
    assert spoken_pin("305917", "cmn") == (
        "安装密码：三，零，五，九，幺，七。再说一次：三，零，五，九，幺，七。"
    )
    assert spoken_pin("12", "en") == "Installer PIN: 1, 2. Again: 1, 2."


def test_only_the_hubs_own_address_localhost_and_its_names_are_answered() -> None:
    own, names = {"192.168.1.23", "fe80::1"}, {"pingan-hub.local"}

    def ok(host: str | None) -> bool:
        return allowed_host(host, own=own, port=8080, names=names)

    assert ok("192.168.1.23:8080") and ok("192.168.1.23") and ok("localhost:8080")
    assert ok("[fe80::1]:8080") and ok("PINGAN-HUB.local.:8080")
    assert not ok("192.168.1.23:80")  # another port
    assert not ok("attacker.example:8080")  # DNS rebinding
    assert not ok("192.168.1.24:8080") and not ok(None) and not ok("")
    assert not ok("fe80::1") and not ok("[fe80::1") and not ok("192.168.1.23:80x")
    assert not ok("localhost@evil:8080") and not ok("192.168.1.23:99999999")
    assert split_host("[::1]:8080") == ("::1", 8080)


@given(st.text(max_size=300))
def test_any_host_header_is_answered_or_refused_never_an_error(host: str) -> None:
    assert allowed_host(host, own={"10.0.0.2"}, port=80, names=set()) in (True, False)

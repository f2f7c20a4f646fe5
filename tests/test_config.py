"""Config files: clear errors that name the option; the example file is valid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hub.config import parse_config
from hub.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "hub", "config", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_example_config_is_valid() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub", "config", "check", str(ROOT / "config.example.toml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[hub]\nid = 'H1'\n[mqtt]\nport = 70000\n",
            "mqtt.port: 70000 is out of range; allowed 1 to 65535",
        ),
        (
            "[hub]\nid = 'H1'\n[mqtt]\nport = 'eighty'\n",
            "mqtt.port: must be a whole number, got 'eighty'",
        ),
        (
            "[hub]\nid = 'H1'\n[mqtt]\nhots = 'x'\n",
            "mqtt.hots: unknown option; did you mean mqtt.host?",
        ),
        ("[hub]\nid = 'H1'\n[mqt]\n", "[mqt]: unknown section; did you mean [mqtt]?"),
        ("[hub]\n", "hub.id: required"),
        ("[hub]\nid = 'has space'\n", "hub.id: 'has space' may only use letters"),
        (
            "[hub]\nid = 'H1'\ntimezone = 'Mars/Olympus'\n",
            "hub.timezone: 'Mars/Olympus' is not a known",
        ),
        (
            "[hub]\nid = 'H1'\nlanguage = 'fr'\n",
            "hub.language: 'fr' is not allowed; use one of 'cmn', 'yue', 'en'",
        ),
        (
            "[hub]\nid = 'H1'\n[gpio]\nok_pin = 17\n",
            "gpio.ok_pin: pin 17 is already used by gpio.sos_pin",
        ),
        ("[hub]\nid = 'H1'\n[mqtt]\ncert_file = '/c.pem'\ntls = true\n", "give both or neither"),
        ("[hub]\nid = 'H1'\n[mqtt]\nprefix = 'a/#'\n", "mqtt.prefix: 'a/#' must be topic levels"),
        (
            "[hub]\nid = 'H1'\n[sos]\nresend_s = 60\n",
            "sos.resend_s: must not exceed sos.ack_timeout_s",
        ),
        ("[hub\nid = 'H1'\n", "not valid TOML"),
    ],
)
def test_a_bad_config_file_names_the_option_and_exits_2(
    tmp_path: Path, text: str, expected: str
) -> None:
    result = check(tmp_path, text)
    assert result.returncode == 2
    assert expected in result.stderr


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"hub": {"id": ""}, "mqtt": {"port": 0, "tls": "yes"}})
    assert len(err.value.problems) == 3


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub", "config", "check", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "file not found" in result.stderr


def test_a_timeout_of_nan_is_refused_since_no_timer_would_ever_fire() -> None:
    with pytest.raises(ConfigError, match=r"sos\.ack_timeout_s: must be a finite number"):
        parse_config({"hub": {"id": "H1"}, "sos": {"ack_timeout_s": float("nan")}})

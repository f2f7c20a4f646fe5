"""Garbage on the installer pages' forms (any field names, any text, with and without the
CSRF token): every answer is a page, never a server error, the paired devices are left as
they were, and the hub keeps serving its alarm path."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.app import Hub
from hub.web.server import WebServer
from tests.fuzzing import examples
from tests.test_web_api import DOOR, installer, web  # noqa: F401 - `web` is the fixture

# Every form that writes something, except the walk test's test alarm (a real SOS path).
FORMS = (
    "/login",
    "/installer/permit-join",
    "/installer/permit-stop",
    "/installer/pair",
    "/installer/rename",
    "/installer/remove",
    "/installer/walk/start",
    "/installer/walk/finish",
)
FIELD_NAMES = st.sampled_from(["key", "kind", "name", "room", "replaces", "pin", "csrf"])
# Text a phone can send: any Unicode, control characters, very long runs, lone surrogates
# excluded (a browser cannot encode them), and bytes read as Latin-1.
FIELD_VALUES = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=80),
    st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["", " ", "door", "gas", "button", "rflink:Kaku:00beef:1", "长" * 41]),
)


@settings(
    max_examples=examples(60),
    deadline=None,
    # One hub serves every example on purpose: garbage must not wear it down either.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    path=st.sampled_from(FORMS),
    fields=st.dictionaries(st.one_of(FIELD_NAMES, st.text(max_size=12)), FIELD_VALUES, max_size=6),
    with_token=st.booleans(),
)
async def test_garbage_on_any_form_is_answered_and_changes_no_paired_device(
    web: tuple[Hub, WebServer, TestClient[Any, Any]],  # noqa: F811
    path: str,
    fields: dict[str, str],
    with_token: bool,
) -> None:
    hub, server, client = web
    if hub.registry.get(DOOR) is None:
        await hub.devices.pair(DOOR, "door", "大门", "门口")
    token = await installer(server, client)
    form = {**fields, "csrf": token} if with_token else fields
    # Encoded by hand: aiohttp's own client refuses control characters in field names,
    # a hostile client on the LAN does not.
    body = urlencode(form).encode()
    resp = await client.post(
        path, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    await resp.read()
    assert resp.status < 500, (path, form, resp.status)
    device = hub.registry.get(DOOR)
    assert device is not None and (device.name, device.room, device.kind) == (
        "大门",
        "门口",
        "door",
    )
    assert (await hub.report.status())["hub"] == hub.cfg.hub.id  # the hub still answers

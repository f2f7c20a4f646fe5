"""BlueZ on a private D-Bus system bus (python-dbusmock's bluez5 template).

Real bleak talks to it exactly as to bluetoothd: the adapter, StartDiscovery /
RegisterMonitor, InterfacesAdded and PropertiesChanged signals for each advert. Only the
radio is missing, so a test "advertises" by updating a device's ServiceData and RSSI,
which is what bluetoothd does when an advert arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import dbus
import pytest
from dbusmock import BusType, PrivateDBus, SpawnedMock

MOCK_IFACE = "org.bluez.Mock"
DEVICE_IFACE = "org.bluez.Device1"
DBUSMOCK_IFACE = "org.freedesktop.DBus.Mock"
BTHOME_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"


class MockBlueZ:
    """The mock's controls: adapters, devices, adverts (blocking dbus-python calls)."""

    def __init__(self, mock: SpawnedMock) -> None:
        self.mock = mock
        self.conn = BusType.SYSTEM.get_connection()
        self.paths: dict[str, str] = {}

    def add_adapter(self, name: str = "hci0") -> str:
        return str(self.mock.obj.AddAdapter(name, "pingan-hub", dbus_interface=MOCK_IFACE))

    def add_device(self, address: str, name: str, adapter: str = "hci0") -> None:
        path = str(self.mock.obj.AddDevice(adapter, address, name, dbus_interface=MOCK_IFACE))
        self.paths[address] = path
        # The template gives ManufacturerData (a{qv}) and ServiceData (a{sv}) as empty
        # *arrays*; bleak's property handler raises on them until they are dictionaries.
        self._update(
            address,
            {
                "ManufacturerData": dbus.Dictionary({}, signature="qv"),
                "ServiceData": dbus.Dictionary({}, signature="sv"),
            },
        )

    def advertise(self, address: str, service_data: bytes | None = None, rssi: int = -60) -> None:
        """One advert of `address`: its BTHome service data (if any) and RSSI."""
        props: dict[str, Any] = {"RSSI": dbus.Int16(rssi)}
        if service_data is not None:
            props["ServiceData"] = dbus.Dictionary(
                {BTHOME_UUID: dbus.Array(service_data, signature="y")}, signature="sv"
            )
        self._update(address, props)

    async def advertise_async(
        self, address: str, service_data: bytes | None = None, rssi: int = -60
    ) -> None:
        await asyncio.to_thread(self.advertise, address, service_data, rssi)

    def calls(self, adapter: str = "hci0") -> list[str]:
        """Methods called on the adapter so far (StartDiscovery, RegisterMonitor, ...)."""
        obj = self.conn.get_object("org.bluez", f"/org/bluez/{adapter}")
        return [str(call[1]) for call in obj.GetCalls(dbus_interface=DBUSMOCK_IFACE)]

    def _update(self, address: str, props: dict[str, Any]) -> None:
        obj = self.conn.get_object("org.bluez", self.paths[address])
        obj.UpdateProperties(DEVICE_IFACE, props, dbus_interface=DBUSMOCK_IFACE)


@contextlib.contextmanager
def _running(monkeypatch: pytest.MonkeyPatch, **params: Any) -> Iterator[MockBlueZ]:
    # Remember the real value: PrivateDBus.start() overwrites it for this process.
    monkeypatch.delenv("DBUS_SYSTEM_BUS_ADDRESS", raising=False)
    bus = PrivateDBus(BusType.SYSTEM)
    bus.start()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    # The mock logs every call to stdout: an unread pipe would fill and block it.
    mock = SpawnedMock.spawn_with_template(
        "bluez5", params or None, BusType.SYSTEM, stdout=subprocess.DEVNULL, stderr=None
    )
    bluez = MockBlueZ(mock)
    bluez.add_adapter("hci0")
    try:
        yield bluez
    finally:
        mock.terminate()
        bus.stop()


async def _forget_bleak_manager() -> None:
    """Close bleak's per-loop BlueZ connection while this test's loop still runs.

    bleak keeps one BlueZManager per event loop and finalizes the ones of closed loops
    only when the next loop asks for a manager; by then the old socket's file descriptor
    number may belong to a new connection of the next test, which it would close.
    """
    from bleak.backends.bluezdbus import manager

    instance = manager._global_instances.pop(asyncio.get_running_loop(), None)
    bus = getattr(instance, "_bus", None)
    if bus is not None:
        bus.disconnect()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bus.wait_for_disconnect(), 2)


@pytest.fixture(name="bluez")
async def bluez_fixture(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MockBlueZ]:
    """A private system bus with a mocked bluetoothd (BlueZ >= 5.56) and adapter hci0.

    Request it before `make_hub`, so the hub stops before BlueZ goes away."""
    with _running(monkeypatch) as bluez:
        yield bluez
        await _forget_bleak_manager()


@pytest.fixture(name="old_bluez")
async def old_bluez_fixture(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MockBlueZ]:
    """The same, without the AdvertisementMonitor API (no passive scanning)."""
    with _running(monkeypatch, enable_monitor_api=False) as bluez:
        yield bluez
        await _forget_bleak_manager()

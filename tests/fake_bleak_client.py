"""A stand-in for bleak's BleakClient where python-dbusmock cannot help.

The bluez5 template has no GATT objects (no GattService1/GattCharacteristic1), so a
connection cannot be mocked on D-Bus. This class mimics the BleakClient API the hub
uses, with bleak's own GATT types (BleakGATTServiceCollection, BleakGATTService,
BleakGATTCharacteristic): the constructor establish_connection calls, connect(),
disconnect(), is_connected, services, start_notify() with callbacks given
(BleakGATTCharacteristic, bytearray), read_gatt_char() returning a bytearray, and the
disconnected_callback called with the client when the link drops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection

_BASE = "0000{:04x}-0000-1000-8000-00805f9b34fb"


def _uuid(uuid16: int) -> str:
    return _BASE.format(uuid16)


# A wrist wearable's GATT table: Heart Rate, Pulse Oximeter, Blood Pressure, Battery
# services (0x180D, 0x1822, 0x1810, 0x180F) with their measurement characteristics,
# plus a vendor characteristic the hub must ignore.
TABLE: list[tuple[int, list[tuple[int | str, list[str]]]]] = [
    (0x180D, [(0x2A37, ["notify"])]),
    (0x1822, [(0x2A5E, ["indicate"]), (0x2A5F, ["notify"])]),
    (0x1810, [(0x2A35, ["indicate"])]),
    (0x180F, [(0x2A19, ["read", "notify"])]),
    (0xFEE0, [("0000fee1-0000-3512-2118-0009af100700", ["notify", "write"])]),
]


class FakeBleakClient:
    """See the module docstring. `instances` lists every client made, newest last."""

    instances: ClassVar[list[FakeBleakClient]] = []
    battery = bytearray(b"\x57")  # 87 %
    refuse_connects = 0  # this many connect() calls fail first (BlueZ's transient errors)

    def __init__(
        self,
        address_or_ble_device: Any,
        disconnected_callback: Callable[[FakeBleakClient], None] | None = None,
        services: Any = None,
        *,
        timeout: float = 10.0,
        pair: bool = False,
        **kwargs: Any,
    ) -> None:
        self.address = getattr(address_or_ble_device, "address", address_or_ble_device)
        self._disconnected_callback = disconnected_callback
        self._connected = False
        self.notify_callbacks: dict[str, Callable[[BleakGATTCharacteristic, bytearray], None]] = {}
        self.connects = 0
        self.services = BleakGATTServiceCollection()
        handle = 1
        for service_uuid, chars in TABLE:
            service = BleakGATTService(None, handle, _uuid(service_uuid))
            self.services.add_service(service)
            handle += 1
            for char_uuid, props in chars:
                uuid = _uuid(char_uuid) if isinstance(char_uuid, int) else char_uuid
                char = BleakGATTCharacteristic(None, handle, uuid, props, lambda: 20, service)  # type: ignore[arg-type]
                self.services.add_characteristic(char)
                handle += 2
        FakeBleakClient.instances.append(self)

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, **kwargs: Any) -> None:
        self.connects += 1
        if FakeBleakClient.refuse_connects > 0:
            FakeBleakClient.refuse_connects -= 1
            raise TimeoutError("le-connection-abort-by-local")
        self._connected = True

    async def disconnect(self) -> None:
        if self._connected:
            self.drop()

    async def start_notify(
        self,
        char_specifier: BleakGATTCharacteristic | int | str,
        callback: Callable[[BleakGATTCharacteristic, bytearray], None],
        **kwargs: Any,
    ) -> None:
        char = self._char(char_specifier)
        if not {"notify", "indicate"} & set(char.properties):
            raise RuntimeError(f"{char.uuid} cannot notify")
        self.notify_callbacks[char.uuid] = callback

    async def read_gatt_char(
        self, char_specifier: BleakGATTCharacteristic | int | str, **kwargs: Any
    ) -> bytearray:
        char = self._char(char_specifier)
        assert "read" in char.properties
        return bytearray(self.battery)

    # -- the device's side ----------------------------------------------------------

    def notify(self, uuid16: int, data: bytes) -> None:
        """The wearable sends a notification/indication of characteristic `uuid16`."""
        uuid = _uuid(uuid16)
        self.notify_callbacks[uuid](self._char(uuid), bytearray(data))

    def drop(self) -> None:
        """The link is lost (out of range, battery out)."""
        self._connected = False
        self.notify_callbacks.clear()
        if self._disconnected_callback is not None:
            self._disconnected_callback(self)

    def _char(self, spec: BleakGATTCharacteristic | int | str) -> BleakGATTCharacteristic:
        if isinstance(spec, BleakGATTCharacteristic):
            return spec
        char = self.services.get_characteristic(spec)
        assert char is not None, spec
        return char

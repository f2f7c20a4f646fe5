"""The device registry: paired devices on TinyDB with atomic writes, plus a pairing inbox.

Blocking IO: every method that can write (`pair`, `remove`, `rename`, `flush`, and `seen`
when a flush falls due) does file IO with fsync. Open the registry synchronously at startup,
then call these from the event loop through `asyncio.to_thread(registry.method, ...)`.
Concurrent `to_thread` calls are safe: reads take only a short in-memory lock, so a read
on the event loop never waits on a write's fsync.

In the hub (`riders` given), the file is rewritten only when a pairing changes (pair,
remove, rename). What a device says all day (last seen, battery, its last on/off state)
is kept in memory and in the outbox's SQLite file, written with the outbox's next
transaction (hub/store/riders.py: a telemetry group, a warning's commit), and read back
at start (`live`): a power cut loses what changed since that transaction, shown to the
installer; nothing decides on it (supervision starts afresh from each boot). Without
`riders` (tools, older tests) those updates go to the file as before issue 23:
`last_seen` and battery at most every `flush_every` seconds (6 h), a door's, contact's or
detector's on/off state within `STATE_FLUSH_S` of a change, all at close.

Keys are canonical (hub.sensors.keys): every method takes a key in any spelling a person
may type (`a4:c1:38:…`, `rflink:Eurodomest:…`) and the registry returns only the spelling
the sources report, and stores new pairings so. An entry written before keys were
canonical keeps its spelling in the file (an older hub after a software rollback still
matches it to what its own decoder prints) and is read in the canonical one.

The file keeps the `devices` table as earlier versions wrote it; what later versions
added (`body_worn`, the last state) lives in a second table, `device_extras`, one entry
per paired device. An older hub (a software rollback) reads its own table and carries
the other along untouched; this one ignores, with a warning, fields it does not know.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB
from tinydb.storages import Storage

from hub.clock import Clock
from hub.errors import StoreError
from hub.reading import Reading
from hub.sensors.keys import canonical_key
from hub.store.atomic import write_atomic
from hub.store.riders import Liveness, Riders

_LOGGER = logging.getLogger(__name__)

# At most one last_seen/battery write per this many seconds (SD card wear).
DEFAULT_FLUSH_EVERY = 6 * 3600.0
# Device kinds whose on/off state is momentary (motion seen, then none): not worth a write.
MOMENTARY_KINDS = frozenset({"motion", "radar"})
# A changed on/off state is written at most this long after the change (a door contact
# changes a few dozen times a day; a chattering one still costs one write a minute).
STATE_FLUSH_S = 60.0
# Devices heard but not paired that the inbox remembers (neighbours' 433 MHz gear is common).
INBOX_SIZE = 32
_TABLE = "devices"
_EXTRAS_TABLE = "device_extras"


class AtomicJSONStorage(Storage):
    """TinyDB storage that never rewrites in place (tinydb#301).

    Each write goes to a temp file, is fsynced, renamed over the old file, and the directory
    is fsynced: after a power cut the file is the old or the new version, never a mix.
    """

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        # A power cut mid-write leaves the temp file behind (the rename never happened);
        # the hub is the file's only writer, so any left at open are stale.
        for stale in self._path.parent.glob(f".{self._path.name}.*"):
            stale.unlink(missing_ok=True)

    def read(self) -> dict[str, dict[str, Any]] | None:
        """The whole database, None when there is no file yet; StoreError when it is corrupt."""
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"device registry {self._path} unreadable: {exc}") from exc
        if not raw.strip():
            return None
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("top level is not an object")
        except ValueError as exc:
            backup = self._path.with_name(f"{self._path.name}.corrupt")
            shutil.copy2(self._path, backup)
            _LOGGER.error("device registry %s is corrupt; copy kept at %s", self._path, backup)
            raise StoreError(
                f"device registry {self._path} is corrupt ({exc}); a copy was kept at {backup}."
                " Restore it from the copy or remove the file and pair the devices again"
            ) from exc
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        """Replace the file atomically."""
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            write_atomic(self._path, payload)
        except OSError as exc:
            raise StoreError(f"device registry {self._path} not written: {exc}") from exc


@dataclass(frozen=True)
class Device:
    """A paired device. `key` is the source's device key (Reading.device)."""

    key: str
    protocol: str
    address: str
    kind: str
    name: str = ""
    room: str = ""
    paired_at: str = ""  # ISO 8601 wall time
    last_seen: str | None = None  # ISO 8601 wall time
    battery: int | None = None
    battery_low: bool = False
    supervision_s: float | None = None  # None: supervision learns the interval
    # Worn on the body (a wearable always is): its vital signs enter the health archive.
    body_worn: bool = False
    # The last on/off state it reported (hub.reading.State value: "alarm" or "clear";
    # for a door "alarm" is open) and when; None until it says one.
    state: str | None = None
    state_at: str | None = None


# Device fields kept in the extras table, not in `devices` (see the module docstring).
_EXTRAS = ("body_worn", "state", "state_at")
_FIELDS = frozenset(f.name for f in fields(Device))


def _base_doc(dev: Device, stored: str) -> dict[str, Any]:
    """The `devices` entry: the older fields, the key spelled as the file has it."""
    return {**{k: v for k, v in asdict(dev).items() if k not in _EXTRAS}, "key": stored}


def _extras_doc(dev: Device) -> dict[str, Any]:
    return {"key": dev.key, **{k: getattr(dev, k) for k in _EXTRAS}}


@dataclass(frozen=True)
class Heard:
    """A device heard but not paired (pairing inbox entry)."""

    key: str
    protocol: str
    kind: str
    first_heard: str
    last_heard: str
    count: int
    values: dict[str, Any]


class Registry:
    """Paired devices (durable) and the pairing inbox (in memory, bounded)."""

    def __init__(
        self,
        path: Path,
        clock: Clock,
        *,
        flush_every: float = DEFAULT_FLUSH_EVERY,
        riders: Riders | None = None,
        live: dict[str, Liveness] | None = None,
    ) -> None:
        self._clock = clock
        self._flush_every = flush_every
        self._riders = riders  # liveness goes there, not to the file
        # Two locks, so the event loop's reads never wait on the SD card: `_lock` guards the
        # in-memory state and is held only for dict work; `_write_lock` orders file writes
        # (TinyDB rewrites the whole file) and is held across the fsync.
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._db = TinyDB(str(path), storage=AtomicJSONStorage)
        self._table = self._db.table(_TABLE)
        self._extras = self._db.table(_EXTRAS_TABLE)
        self._devices: dict[str, Device] = {}
        extras = {
            canonical_key(doc["key"]): {k: doc[k] for k in _EXTRAS if k in doc}
            for doc in self._extras.all()
            if isinstance(doc.get("key"), str)
        }
        # canonical key -> every spelling the file has it under (earlier versions wrote keys
        # as typed); the first is the one written to.
        self._spellings: dict[str, list[str]] = {}
        for doc in self._table.all():
            unknown = set(doc) - _FIELDS
            if unknown:  # written by a newer version: what it added is not ours to read
                _LOGGER.warning("device registry: fields %s not known here, ignored", unknown)
            try:
                dev = Device(**{k: v for k, v in doc.items() if k in _FIELDS and k not in _EXTRAS})
            except TypeError as exc:
                raise StoreError(f"device registry {path} has an unreadable entry: {exc}") from exc
            key = canonical_key(dev.key)
            spellings = self._spellings.setdefault(key, [])
            old = self._devices.get(key)
            if old is None or old.paired_at <= dev.paired_at:  # two spellings: the newer wins
                self._devices[key] = replace(dev, key=key, **extras.get(key, {}))
                spellings.insert(0, dev.key)
            else:
                spellings.append(dev.key)
        for key, seen in (live or {}).items():  # newer than the file's copy
            if key in self._devices:
                self._devices[key] = replace(self._devices[key], **_live_fields(seen))
        missing = [dev for key, dev in self._devices.items() if key not in extras]
        if missing:  # paired by an earlier version: every paired device gets its entry
            self._extras.insert_multiple(_extras_doc(dev) for dev in missing)
        self._dirty: set[str] = set()  # devices with updates not yet in the file
        self._state_changed = False  # one of them is a door's or detector's new state
        self._last_flush = clock.monotonic()  # when the file was last written (any update)
        self._last_history = clock.monotonic()  # when last_seen/battery were last due
        self._inbox: OrderedDict[str, Heard] = OrderedDict()

    def _stored(self, key: str) -> str:
        """The spelling of `key` the file has (new pairings: the canonical one)."""
        spellings = self._spellings.get(key)
        return spellings[0] if spellings else key

    def close(self) -> None:
        """Flush pending last_seen updates and close the file."""
        self.flush()
        with self._write_lock:
            self._db.close()

    def pair(
        self,
        key: str,
        *,
        protocol: str,
        address: str,
        kind: str,
        name: str = "",
        room: str = "",
        supervision_s: float | None = None,
        body_worn: bool = False,
    ) -> Device:
        """Pair (or re-pair) a device; it leaves the inbox. Writes the file."""
        key = canonical_key(key)
        dev = Device(
            key=key,
            protocol=protocol,
            address=address,
            kind=kind,
            name=name,
            room=room,
            paired_at=self._clock.now().isoformat(),
            supervision_s=supervision_s,
            body_worn=body_worn or kind == "wearable",
        )
        with self._write_lock:
            self._store(dev)
        with self._lock:
            self._inbox.pop(key, None)
        if self._riders is not None:  # paired afresh: nothing heard of it yet
            self._riders.set_live(key, None)
        return dev

    def remove(self, key: str) -> bool:
        """Unpair a device; False when it was not paired. Writes the file."""
        key = canonical_key(key)
        with self._write_lock:
            with self._lock:
                if key not in self._devices:
                    return False
            self._table.remove(Query().key.one_of(self._spellings.get(key) or [key]))
            self._extras.remove(Query().key == key)
            with self._lock:
                del self._devices[key]
                self._spellings.pop(key, None)
                self._dirty.discard(key)
            if self._riders is not None:
                self._riders.set_live(key, None)
            return True

    def rename(self, key: str, *, name: str | None = None, room: str | None = None) -> Device:
        """Change a paired device's name and/or room. Writes the file; StoreError if unknown."""
        key = canonical_key(key)
        with self._write_lock:
            with self._lock:
                dev = self._require(key)
            dev = replace(
                dev,
                name=dev.name if name is None else name,
                room=dev.room if room is None else room,
            )
            self._store(dev)
            return dev

    def get(self, key: str) -> Device | None:
        """The paired device with this key (any spelling), or None."""
        key = canonical_key(key)
        with self._lock:
            return self._devices.get(key)

    def devices(self) -> list[Device]:
        """All paired devices, by room then name."""
        with self._lock:
            return sorted(self._devices.values(), key=lambda d: (d.room, d.name, d.key))

    def inbox(self) -> list[Heard]:
        """Devices heard but not paired, most recently heard last."""
        with self._lock:
            return list(self._inbox.values())

    def seen(self, reading: Reading) -> Device | None:
        """Attribute a reading: the paired Device (last_seen, battery and on/off state updated
        in memory), or None when unpaired (the reading goes to the inbox and must not reach
        alarms). Memory only, never the disk, so the event loop calls it directly (a
        pendant's press does not wait for a thread): the outbox's next transaction carries
        the update (riders), or, without riders, `flush` when `flush_due` says so."""
        now = self._clock.now().isoformat()
        key = canonical_key(reading.device)
        with self._lock:
            dev = self._devices.get(key)
            if dev is None:
                self._hear_unpaired(key, reading, now)
                return None
            low = reading.values.get("battery_low")
            state = dev.state if reading.state is None else reading.state.value
            if state != dev.state and dev.kind not in MOMENTARY_KINDS:
                self._state_changed = True
            dev = replace(
                dev,
                last_seen=now,
                battery=reading.battery if reading.battery is not None else dev.battery,
                battery_low=low if isinstance(low, bool) else dev.battery_low,
                state=state,
                state_at=dev.state_at if reading.state is None else now,
            )
            self._devices[dev.key] = dev
            if self._riders is not None:  # written with the outbox's next transaction
                self._riders.set_live(dev.key, _liveness(dev))
            else:
                self._dirty.add(dev.key)
        return dev

    def _due(self) -> bool:
        """Whether pending updates should be written now (caller holds _lock)."""
        now = self._clock.monotonic()
        return bool(self._dirty) and (
            now - self._last_history >= self._flush_every
            or (self._state_changed and now - self._last_flush >= STATE_FLUSH_S)
        )

    def flush_due(self) -> bool:
        """Whether a changed on/off state (or old last_seen history) waits to be written;
        the hub checks this every few seconds and then calls `flush` off the event loop."""
        with self._lock:
            return self._due()

    def flush(self) -> None:
        """Write every pending update (last_seen, battery, states) in one file write."""
        with self._write_lock:
            with self._lock:
                self._last_flush = self._clock.monotonic()
                self._last_history = self._last_flush
                if not self._dirty:
                    return
                devices = [self._devices[key] for key in self._dirty]
                self._dirty.clear()
                self._state_changed = False
            try:
                self._write_updates(devices)
            except BaseException:
                with self._lock:  # written next time
                    self._dirty.update(d.key for d in devices if d.key in self._devices)
                    self._state_changed = True
                raise

    def _write_updates(self, devices: list[Device]) -> None:
        """Both tables' entries of `devices`, replaced in one atomic rewrite of the file
        (TinyDB's table operations would write it once per table); never
        truncate-then-insert, which would leave an empty registry if power failed between."""
        storage = self._db.storage
        data = storage.read() or {}
        base = data.setdefault(_TABLE, {})
        extras = data.setdefault(_EXTRAS_TABLE, {})
        base_ids = {doc.get("key"): doc_id for doc_id, doc in base.items()}
        extras_ids = {doc.get("key"): doc_id for doc_id, doc in extras.items()}
        for dev in devices:
            stored = self._stored(dev.key)
            if stored in base_ids:
                base[base_ids[stored]] = _base_doc(dev, stored)
            if dev.key in extras_ids:
                extras[extras_ids[dev.key]] = _extras_doc(dev)
        storage.write(data)
        self._table.clear_cache()
        self._extras.clear_cache()

    def _require(self, key: str) -> Device:
        dev = self._devices.get(key)
        if dev is None:
            raise StoreError(f"no paired device {key!r}")
        return dev

    def _store(self, dev: Device) -> None:
        """Write one device, then show it (caller holds _write_lock, not _lock)."""
        stored = self._stored(dev.key)
        self._table.upsert(_base_doc(dev, stored), Query().key == stored)
        self._extras.upsert(_extras_doc(dev), Query().key == dev.key)
        with self._lock:
            self._devices[dev.key] = dev
            self._dirty.discard(dev.key)

    def _hear_unpaired(self, key: str, reading: Reading, now: str) -> None:
        old = self._inbox.pop(key, None)
        self._inbox[key] = Heard(
            key=key,
            protocol=reading.protocol,
            kind=reading.kind,
            first_heard=old.first_heard if old else now,
            last_heard=now,
            count=(old.count if old else 0) + 1,
            values=dict(reading.values),
        )
        while len(self._inbox) > INBOX_SIZE:
            self._inbox.popitem(last=False)


def _liveness(dev: Device) -> Liveness:
    return Liveness(dev.last_seen, dev.battery, dev.battery_low, dev.state, dev.state_at)


def _live_fields(seen: Liveness) -> dict[str, Any]:
    return {
        "last_seen": seen.last_seen,
        "battery": seen.battery,
        "battery_low": seen.battery_low,
        "state": seen.state,
        "state_at": seen.state_at,
    }


def registry_path(data_dir: Path) -> Path:
    """Where the registry lives inside the hub's data directory."""
    return data_dir / "devices.json"


__all__ = ["AtomicJSONStorage", "Device", "Heard", "Registry", "registry_path"]

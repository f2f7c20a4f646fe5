"""Presence (pure): is the elder's wearable near the hub, and in which room.

Fed with the RSSI of every advert a tracked wearable sends, per receiver (the hub's
radio, or more when several receivers sit in different rooms), and ticked every few
seconds. Returns `Transition`s only when something changes: near <-> away, or the
room the wearable is nearest to. The care checks' away mode and the 7-day presence
history take nothing else.

Why these choices:
  * RSSI is smoothed with an exponential moving average (alpha 0.3, about the last
    three adverts): one advert reflected off a wall can be 10 dB off.
  * Hysteresis: near at `near_dbm`, away only below `away_dbm` (lower): a wearable
    at the edge of range must not flap between near and away.
  * Not heard for `away_after_s` is away too: a wearable out of range sends nothing,
    so its last (strong) RSSI would otherwise say "near" for ever.
  * A room change needs the new receiver to be ROOM_MARGIN_DB stronger than the
    current one, for the same reason as the hysteresis.
  * RSSI outside -127..-1 dBm is BlueZ's "unknown" (127 or 0) and is not used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALPHA = 0.3
ROOM_MARGIN_DB = 5.0
RSSI_MIN, RSSI_MAX = -127, -1


@dataclass(frozen=True)
class Transition:
    """The wearable came near (in `room`), moved room, or went away."""

    device: str
    present: bool
    room: str
    rssi: int | None  # the smoothed RSSI that decided it (None: not heard at all)
    at: float  # monotonic seconds


@dataclass
class _Receiver:
    rssi: float
    heard: float


@dataclass
class _Wearable:
    present: bool | None = None  # None: not decided yet
    room: str = ""
    receivers: dict[str, _Receiver] = field(default_factory=dict)


class PresenceTracker:
    """Near/away and room of each tracked wearable; see the module docstring."""

    def __init__(
        self,
        devices: tuple[str, ...] | frozenset[str],
        *,
        near_dbm: float,
        away_dbm: float,
        away_after_s: float,
        now: float,
    ) -> None:
        if away_dbm >= near_dbm:
            raise ValueError("away_dbm must be below near_dbm")
        self.devices = frozenset(d.upper() for d in devices)
        self.near_dbm = near_dbm
        self.away_dbm = away_dbm
        self.away_after_s = away_after_s
        self._started = now
        self._state = {d: _Wearable() for d in self.devices}

    def tracks(self, device: str) -> bool:
        """Whether `device` (a BLE address) is a tracked wearable."""
        return device.upper() in self.devices

    def observe(self, device: str, rssi: int | None, room: str, now: float) -> Transition | None:
        """One advert of `device` heard by the receiver in `room` with `rssi` dBm."""
        state = self._state.get(device.upper())
        if state is None or rssi is None or not RSSI_MIN <= rssi <= RSSI_MAX:
            return None
        receiver = state.receivers.get(room)
        if receiver is None or now - receiver.heard > self.away_after_s:
            state.receivers[room] = _Receiver(float(rssi), now)
        else:
            receiver.rssi += ALPHA * (rssi - receiver.rssi)
            receiver.heard = now
        return self._decide(device.upper(), state, now)

    def tick(self, now: float) -> list[Transition]:
        """Time passes: receivers that stopped hearing a wearable no longer count."""
        out = []
        for device, state in self._state.items():
            for room in [
                r for r, rec in state.receivers.items() if now - rec.heard > self.away_after_s
            ]:
                del state.receivers[room]
            if state.present is None and not state.receivers:
                if now - self._started >= self.away_after_s:  # never heard since start
                    state.present = False
                    out.append(Transition(device, False, "", None, now))
                continue
            change = self._decide(device, state, now)
            if change is not None:
                out.append(change)
        return out

    def current(self, device: str) -> tuple[bool | None, str]:
        """(present or None when not yet known, room) of `device`."""
        state = self._state.get(device.upper())
        return (None, "") if state is None else (state.present, state.room)

    def _decide(self, device: str, state: _Wearable, now: float) -> Transition | None:
        if not state.receivers:
            if state.present is not False and state.present is not None:
                state.present = False
                return Transition(device, False, state.room, None, now)
            return None
        room, best = max(state.receivers.items(), key=lambda item: item[1].rssi)
        smoothed = round(best.rssi)
        if state.present is not True:
            if best.rssi >= self.near_dbm:
                state.present, state.room = True, room
                return Transition(device, True, room, smoothed, now)
            if state.present is None and best.rssi < self.away_dbm:
                state.present = False
                return Transition(device, False, "", smoothed, now)
            return None
        if best.rssi < self.away_dbm:
            state.present = False
            return Transition(device, False, state.room, smoothed, now)
        current = state.receivers.get(state.room)
        if room != state.room and (current is None or best.rssi >= current.rssi + ROOM_MARGIN_DB):
            state.room = room
            return Transition(device, True, room, smoothed, now)
        return None

"""PUBACK marks ride in the outbox's next transaction (issue 23): nothing is lost, a mark
lost to a power cut only means one more send of the same event, and the uplink never
stalls behind events the broker has but whose marks are not on disk yet."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hub.clock import FakeClock
from hub.event import Draft
from hub.sim.broker import Mosquitto
from hub.store.outbox import Outbox
from tests.conftest import HubFactory
from tests.helpers import Collector, eventually
from tests.test_spine import press


def unsent_on_disk(box: Outbox) -> set[str]:
    return {str(r[0]) for r in box._db.execute("SELECT id FROM events WHERE sent_at IS NULL")}


def test_a_mark_is_written_with_the_next_transaction_not_one_of_its_own(tmp_path: Path) -> None:
    clock = FakeClock()
    box = Outbox(tmp_path / "hub.db", "H1", 10**9, 1000)
    checkin = box.commit(Draft.create("checkin", clock)).event
    seen: list[str] = []
    box._db.set_trace_callback(seen.append)
    box.riders.published({checkin.id: 1}, datetime.now(UTC).isoformat())
    assert seen == []  # no write for the PUBACK itself
    assert box.pending() == [] and box.depth() == {0: 0, 1: 0, 2: 0}  # not sent again
    assert unsent_on_disk(box) == {checkin.id}
    sos = box.commit(Draft.create("sos", clock)).event
    assert unsent_on_disk(box) == {checkin.id, sos.id}  # an alarm's commit stays as it was
    box.commit_group([Draft.create("motion", clock)])
    assert checkin.id not in unsent_on_disk(box)  # rode with the group
    assert seen.count("BEGIN IMMEDIATE") == 2


def test_the_uplinks_query_skips_published_rows_however_many(tmp_path: Path) -> None:
    clock = FakeClock()
    box = Outbox(tmp_path / "hub.db", "H1", 10**9, 1000)
    group = box.commit_group([Draft.create("motion", clock) for _ in range(80)])
    box.riders.published({r.event.id: 1 for r in group.stored}, datetime.now(UTC).isoformat())
    sos = box.commit(Draft.create("sos", clock)).event  # nothing rides with it
    newest = box.commit(Draft.create("motion", clock)).event  # the 80 marks ride here...
    box.riders.published({newest.id: 1}, datetime.now(UTC).isoformat())  # ...not its own
    late = box.commit(Draft.create("door", clock)).event
    assert [e.id for e in box.pending(50)] == [sos.id, late.id]


async def test_more_than_a_batch_of_unmarked_events_does_not_stall_the_uplink(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    await collector.subscribed.wait()
    clock = hub.clock
    group = await hub.outbox.commit_group([Draft.create("motion", clock) for _ in range(60)])
    await collector.wait_event("motion", 60)
    ids = {r.event.id for r in group.stored}
    await eventually(lambda: all(hub.outbox.published_at(i) for i in ids))
    assert ids <= unsent_on_disk(hub.outbox.sync)  # all 60 marks still in memory
    # After a reconnect the uplink reads the database (no in-memory shortcut): the 60
    # come first in its query of 50, and must not hide what was committed after them.
    broker.stop()
    await eventually(lambda: not hub.uplink.state.connected)
    await hub.outbox.commit(Draft.create("sos", clock))  # nothing rides with an alarm
    broker.start()
    await collector.wait_event("sos")
    assert len(collector.events("motion")) == 60  # none published twice
    assert ids <= unsent_on_disk(hub.outbox.sync)


async def test_a_power_cut_before_the_mark_means_one_more_send_and_nothing_lost(
    broker: Mosquitto, collector: Collector, make_hub: HubFactory
) -> None:
    hub = await make_hub(broker.port)
    await collector.subscribed.wait()
    await press(hub, "ok")
    [checkin] = await collector.wait_event("checkin")
    await eventually(lambda: hub.outbox.published_at(checkin["id"]) is not None)
    assert checkin["id"] in unsent_on_disk(hub.outbox.sync)
    # The power goes: what was only in memory (the mark) is gone; the stop writes nothing
    # of it (what it writes of its own stands for what was on the card already).
    hub.outbox.sync.riders.take()
    await hub.stop()
    again = await make_hub(broker.port)
    resent = await collector.wait_event("checkin", 2)
    assert [(e["id"], e["seq"]) for e in resent] == [(checkin["id"], checkin["seq"])] * 2
    await eventually(lambda: again.outbox.published_at(checkin["id"]) is not None)
    await again.stop()  # a clean stop writes the mark
    third = await make_hub(broker.port)
    await press(third, "sos")
    await collector.wait_event("sos")
    assert len(collector.events("checkin")) == 2  # sent once more, not again and again

"""The server's action lanes: batches one at a time, a long batch not holding up the rest."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from peek.vortex.lanes import Lanes

from tests.conftest import wait_for


class Recorder:
    """A lane handler that records its batches; a batch holding an item in
    ``hold`` waits until that item's event is set."""

    def __init__(self):
        self.batches: list[list] = []
        self.running = 0
        self.most_running = 0
        self.hold: dict[object, threading.Event] = {}
        self.lock = threading.Lock()

    def __call__(self, key, batch):
        with self.lock:
            self.batches.append(list(batch))
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            for item in batch:
                if item in self.hold:
                    assert self.hold[item].wait(10), f"{item} never released"
            time.sleep(0.002)
        finally:
            with self.lock:
                self.running -= 1

    def handled(self) -> list:
        with self.lock:
            return [item for batch in self.batches for item in batch]


def held_slow_batch(executor, **options):
    """Lanes whose first batch, ("slow", 0), runs until ``release`` is set;
    returns (handler, release, lanes) once it runs."""
    handler = Recorder()
    release = threading.Event()
    handler.hold[("slow", 0)] = release
    lanes = Lanes(executor, handler, max_batch=options.pop("max_batch", 50), **options)
    lanes.put("plugin", ("slow", 0), order="slow")
    wait_for(lambda: handler.running == 1, timeout=5)
    return handler, release, lanes


@pytest.fixture
def executor():
    with ThreadPoolExecutor(8) as pool:
        yield pool


def test_fast_batches_run_one_at_a_time_and_keep_each_order(executor):
    handler = Recorder()
    lanes = Lanes(executor, handler, max_batch=50, spill_after_s=0.5)
    items = [(device, n) for n in range(200) for device in range(5)]
    for item in items:
        lanes.put("plugin", item, order=item[0])
    wait_for(lambda: len(handler.handled()) == len(items), timeout=10)
    lanes.stop()
    assert handler.most_running == 1
    assert len(handler.batches) < len(items)  # items that waited went together
    assert all(len(batch) <= 50 for batch in handler.batches)
    for device in range(5):
        assert [n for d, n in handler.handled() if d == device] == list(range(200))


def test_a_long_batch_does_not_hold_up_other_orders(executor):
    handler, release, lanes = held_slow_batch(executor, spill_after_s=0.1)
    # Put while the slow batch is young: no new put comes after it turns
    # long, so the lanes' own watch has to start the second batch.
    lanes.put("plugin", ("slow", 1), order="slow")
    lanes.put("plugin", ("other", 0), order="other")
    wait_for(lambda: ("other", 0) in handler.handled(), timeout=5)
    assert ("slow", 1) not in handler.handled()  # its order waits for the slow one
    for n in range(1, 20):
        lanes.put("plugin", ("other", n), order="other")
    wait_for(lambda: ("other", 19) in handler.handled(), timeout=5)
    assert ("slow", 1) not in handler.handled()
    release.set()
    wait_for(lambda: ("slow", 1) in handler.handled(), timeout=5)
    lanes.stop()
    done = handler.handled()
    assert done.index(("slow", 0)) < done.index(("slow", 1))
    assert [n for d, n in done if d == "other"] == list(range(20))
    assert handler.most_running == 2


def test_at_most_max_parallel_batches_run(executor):
    handler = Recorder()
    release = threading.Event()
    lanes = Lanes(executor, handler, max_batch=50, max_parallel=3, spill_after_s=0.05)
    for device in range(6):
        handler.hold[(device, 0)] = release
        lanes.put("plugin", (device, 0), order=device)
        time.sleep(0.15)  # each batch turns long before the next device's action
    assert handler.running == 3
    release.set()
    wait_for(lambda: len(handler.handled()) == 6, timeout=5)
    lanes.stop()
    assert handler.most_running == 3


def test_lanes_of_different_keys_run_side_by_side(executor):
    handler = Recorder()
    release = threading.Event()
    handler.hold[("a", 0)] = release
    lanes = Lanes(executor, handler, max_batch=50, spill_after_s=5)
    lanes.put("plugin_a", ("a", 0), order="a")
    lanes.put("plugin_b", ("b", 0), order="b")
    wait_for(lambda: ("b", 0) in handler.handled(), timeout=5)
    release.set()
    wait_for(lambda: ("a", 0) in handler.handled(), timeout=5)
    lanes.stop()


def test_many_items_behind_a_long_batch_are_all_handled_in_order(executor):
    handler, release, lanes = held_slow_batch(executor, max_batch=5, spill_after_s=0.05)
    items = [("slow", n) for n in range(1, 500)] + [("other", n) for n in range(50)]
    for item in items:
        lanes.put("plugin", item, order=item[0])
    time.sleep(0.3)  # the watch starts batches beside the slow one
    release.set()
    wait_for(lambda: len(handler.handled()) == len(items) + 1, timeout=10)
    lanes.stop()
    done = handler.handled()
    for order, count in (("slow", 500), ("other", 50)):
        assert [n for o, n in done if o == order] == list(range(count))

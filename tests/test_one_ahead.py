"""OneAhead: jobs in order, one under way at a time, errors reach the caller."""

from __future__ import annotations

import threading
import time

import pytest

from fishseg.one_ahead import OneAhead


@pytest.mark.parametrize("enabled", [True, False])
def test_jobs_run_in_order_one_at_a_time(enabled):
    log, busy = [], []
    lock = threading.Lock()

    def job(i):
        with lock:
            busy.append(i)
            assert len(busy) == 1, "two jobs under way at once"
        time.sleep(0.01)
        log.append((i, threading.current_thread().name))
        with lock:
            busy.remove(i)

    with OneAhead("test-ahead", enabled) as ahead:
        for i in range(6):
            ahead.submit(job, i)
    assert [i for i, _ in log] == list(range(6))
    in_thread = {name.startswith("test-ahead") for _, name in log}
    assert in_thread == {enabled}


def test_an_error_is_raised_at_the_next_submit_or_on_leaving():
    def bad():
        raise ValueError("frame 7: broken")

    ahead = OneAhead()
    ahead.submit(bad)
    with pytest.raises(ValueError, match="frame 7"):
        ahead.submit(lambda: None)
    with pytest.raises(ValueError, match="frame 8"), OneAhead() as ahead:
        ahead.submit(lambda: (_ for _ in ()).throw(ValueError("frame 8: broken")))


def test_leaving_on_an_exception_waits_for_the_job_and_keeps_that_exception():
    done = []
    with pytest.raises(KeyboardInterrupt), OneAhead() as ahead:
        ahead.submit(lambda: (time.sleep(0.05), done.append(1)))
        raise KeyboardInterrupt
    assert done == [1]  # finished before the block's cleanup went on

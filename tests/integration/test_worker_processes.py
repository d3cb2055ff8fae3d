"""The harness tells a worker that died from one that hangs (a CI failure has to explain itself)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from streams.runtime.consumer_status import CONSUMING_LOG
from tests.integration.worker_processes import TimedOut

pytestmark = [pytest.mark.integration,
              pytest.mark.same_on_any_broker(reason="the test harness's process checks; the broker takes no part")]


def test_a_worker_that_dies_fails_the_wait_at_once_with_its_exit_and_log(pipeline):
    pipeline.start_worker()
    os.kill(pipeline.worker.pid, signal.SIGKILL)  # as the OOM killer would
    started = time.monotonic()
    with pytest.raises(AssertionError) as failure:
        pipeline.wait_stored(events=1, dead_letters=0, timeout=60)
    message = str(failure.value)
    assert time.monotonic() - started < 10, "waited for the timeout instead of noticing the exit"
    assert "worker 1" in message and "exit code -9 (killed by SIGKILL)" in message, message
    assert CONSUMING_LOG in message, "the end of its log"


def test_a_wait_that_times_out_shows_every_threads_and_tasks_stack(pipeline):
    pipeline.start_worker()
    with pytest.raises(TimedOut) as failure:
        pipeline.wait_stored(events=1, dead_letters=0, timeout=1)
    message = str(failure.value)
    tasks = message[message.index("--- asyncio tasks (mode) ---"):message.index("--- threads (faulthandler) ---")]
    assert "TASK " in tasks and "streams/runtime/batch_source.py" in tasks, tasks[:2000]
    threads = message[message.index("--- threads (faulthandler) ---"):]
    assert "Current thread" in threads or "Thread 0x" in threads, threads
    assert "File " in threads and "streams/worker.py" in threads, "the main thread runs the worker"
    assert pipeline.worker.poll() is None, "the dumps leave the worker running"
    assert pipeline.stop_worker() == 0

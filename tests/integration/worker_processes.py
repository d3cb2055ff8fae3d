"""The `cxpulse worker` processes of a test: one that exits fails the wait at once, one that hangs shows its stacks.

Waits that poll a worker's metrics or its group's lag cannot tell a worker that died (segfault, OOM
kill, exit) from one that froze (deadlock, a task never scheduled, a stuck rebalance): both read
"nothing stored" until the timeout. Checking the processes on every poll tells the first at once,
with its exit code and log; on a timeout every live worker dumps its stacks into the message
(kill -QUIT: faulthandler's dump of every thread, made by a C signal handler, so even a frozen event
loop answers; SIGUSR1: mode's dump of the asyncio tasks, which only a running loop answers).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from streams.runtime.consumer_status import CONSUMING_LOG

LOG_TAIL = 3000  # characters of a worker's log in a failure message
TASK_DUMP = 16000  # characters of mode's task dump, once the locals of every frame are left out


class TimedOut(AssertionError):
    pass


def wait_until(predicate, timeout: float, what, interval: float = 0.3):
    """Poll until predicate() is truthy; `what` (a string, or a callable for the state at timeout) explains."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimedOut(f"timed out after {timeout:.0f}s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


def exit_description(code: int) -> str:
    """Popen's returncode in words: negative is the signal that ended the process (SIGKILL: OOM killer, kill -9)."""
    if code < 0:
        try:
            return f"exit code {code} (killed by {signal.Signals(-code).name})"
        except ValueError:
            return f"exit code {code} (killed by signal {-code})"
    return f"exit code {code}"


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen
    log: Path

    def log_text(self, start: int = 0) -> str:
        with open(self.log, "rb") as f:
            f.seek(start)
            return f.read().decode(errors="replace")

    def stacks(self) -> str:
        """The asyncio tasks (mode, SIGUSR1), then every thread's stack (faulthandler, kill -QUIT), from the
        log: the tasks first, since a hung stop is a task waiting, and a long report is cut at its end."""
        tasks = frames(self._dump(signal.SIGUSR1))[:TASK_DUMP] or "(nothing: the event loop does not run)\n"
        threads = busy_threads(self._dump(signal.SIGQUIT)) or "(nothing)\n"
        return f"--- asyncio tasks (mode) ---\n{tasks}--- threads (faulthandler) ---\n{threads}"

    def _dump(self, sig: signal.Signals, settle: float = 2.0, limit: float = 10.0) -> str:
        """What the worker writes to its log after `sig`, once the log has grown and then not grown for
        `settle` seconds (a loaded machine may take seconds to answer; a frozen loop never does: `limit`)."""
        if self.process.poll() is not None:
            return ""
        start = self.log.stat().st_size
        os.kill(self.process.pid, sig)
        size, still_since, deadline = start, time.monotonic(), time.monotonic() + limit
        while time.monotonic() < deadline and (size == start or time.monotonic() - still_since < settle):
            time.sleep(0.2)
            if (now := self.log.stat().st_size) != size:
                size, still_since = now, time.monotonic()
        return self.log_text(start)


def busy_threads(dump: str) -> str:
    """faulthandler's dump without the idle thread-pool workers (a stack of thread.py's _worker only),
    counted on a line instead: a worker has a dozen, and they filled the report before."""
    def is_idle(block: str) -> bool:
        frames_ = [line.strip() for line in block.splitlines() if line.strip().startswith('File "')]
        return (block.startswith("Thread 0x") and len(frames_) == 4 and frames_[0].endswith(" in _worker")
                and "concurrent/futures/thread.py" in frames_[0])

    kept, idle = [], 0
    for block in dump.strip("\n").split("\n\n"):
        if is_idle(block):
            idle += 1
        else:
            kept.append(block)
    return "\n\n".join(kept) + f"\n\n({idle} idle thread-pool workers left out)\n" if idle else dump


def frames(cry: str) -> str:
    """mode's dump from its first task on (faulthandler has the threads), without the locals of every frame,
    the tasks running cxpulse's code first: the message keeps TASK_DUMP characters, and Faust's own tasks,
    dumped in no fixed order, filled them before a stage's task 2 times in 5."""
    tasks = cry[cry.find("\n  TASK ") + 1:] if "\n  TASK " in cry else ""
    blocks: list[list[str]] = []
    for line in tasks.splitlines(keepends=True):
        if line.startswith("  TASK "):
            blocks.append([line])
        elif line.lstrip().startswith("File \"") and blocks:
            blocks[-1].append(line)
    blocks.sort(key=lambda block: not any("/streams/" in line for line in block))  # stable: mode's order otherwise
    return "".join(line for block in blocks for line in block)


class Workers:
    """The workers a test started and has not stopped on purpose."""

    def __init__(self) -> None:
        self.running: list[WorkerProcess] = []

    def start(self, name: str, env: dict[str, str], log: Path, timeout: float) -> subprocess.Popen:
        """`cxpulse worker`, its output in `log`; returns once it logs that it consumes every topic."""
        with open(log, "wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        worker = WorkerProcess(name, process, log)
        self.running.append(worker)
        self.wait(lambda: CONSUMING_LOG in worker.log_text(), timeout, f"{name} ready (log {log})")
        return process

    def forget(self, process: subprocess.Popen) -> None:
        """The test stops or kills this one: its exit is no failure."""
        self.running = [w for w in self.running if w.process is not process]

    def check(self) -> None:
        for worker in self.running:
            code = worker.process.poll()
            if code is not None:
                self.forget(worker.process)
                raise AssertionError(f"{worker.name} (pid {worker.process.pid}) exited with "
                                     f"{exit_description(code)}; the end of its log {worker.log}:\n"
                                     f"{worker.log_text()[-LOG_TAIL:]}")

    def wait(self, predicate, timeout: float, what, interval: float = 0.3):
        """wait_until, failing at once when a worker exits, and with every worker's stacks on a timeout."""
        def checked():
            self.check()
            return predicate()
        try:
            return wait_until(checked, timeout, what, interval)
        except TimedOut as exc:
            raise TimedOut(f"{exc}\n{self.report()}") from None

    def report(self) -> str:
        return "".join(f"\n=== {w.name} (pid {w.process.pid}, running), log {w.log} ===\n"
                       f"{w.log_text()[-LOG_TAIL:]}\n{w.stacks()}" for w in self.running)

    def kill_all(self) -> None:
        for worker in self.running:
            if worker.process.poll() is None:
                os.killpg(worker.process.pid, signal.SIGKILL)
                worker.process.wait()
        self.running = []

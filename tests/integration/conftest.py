"""Integration fixtures: a real broker for the session, a real worker per test.

`--broker-dependent-only` (CI's second pass, on Apache Kafka) deselects the tests marked
`same_on_any_broker(reason=...)` and lists them with their reason at the end: they ran in the
first pass, and running them again on another broker proves nothing more.
"""

from __future__ import annotations

import os

import pytest

from streams.cli.embedded_broker import EmbeddedBroker
from tests.integration.pipeline import Pipeline

# What the tests print (counts of fault tests: published, stored, dead-lettered, alerts, duplicates),
# repeated at the end of the run so a CI log shows the figures without -s.
_printed: list[tuple[str, str]] = []
_deselected: list[tuple[str, str]] = []


def pytest_addoption(parser) -> None:
    parser.addoption("--broker-dependent-only", action="store_true",
                     help="deselect the tests marked same_on_any_broker (listed with their reason in the summary)")


def pytest_collection_modifyitems(config, items) -> None:
    if not config.getoption("--broker-dependent-only"):
        return
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("same_on_any_broker")
        if marker is None:
            kept.append(item)
        else:
            dropped.append(item)
            _deselected.append((item.nodeid, marker.kwargs["reason"]))
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_runtest_logreport(report) -> None:
    if report.when == "call" and report.passed and report.capstdout.strip():
        _printed.append((report.nodeid, report.capstdout.strip()))


def pytest_terminal_summary(terminalreporter) -> None:
    if _printed:
        terminalreporter.section("what the passing integration tests measured")
        for nodeid, text in _printed:
            terminalreporter.write_line(nodeid)
            for line in text.splitlines():
                terminalreporter.write_line("    " + line)
    if _deselected:
        terminalreporter.section(f"deselected by --broker-dependent-only: {len(_deselected)} tests the same on any broker")
        for nodeid, reason in _deselected:
            terminalreporter.write_line(f"{nodeid}: {reason}")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory):
    external = os.environ.get("CXPULSE_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("tansu") / "tansu.log").start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def pipeline(kafka_bootstrap, tmp_path):
    running = Pipeline(kafka_bootstrap, tmp_path)
    try:
        yield running
    finally:
        running.close()

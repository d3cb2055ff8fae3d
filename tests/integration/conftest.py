"""Integration fixtures: a real broker for the session, a real worker per test."""

from __future__ import annotations

import os

import pytest

from streams.embedded_broker import EmbeddedBroker
from tests.integration.pipeline import Pipeline

# What the tests print (counts of fault tests: published, stored, dead-lettered, alerts, duplicates),
# repeated at the end of the run so a CI log shows the figures without -s.
_printed: list[tuple[str, str]] = []


def pytest_runtest_logreport(report) -> None:
    if report.when == "call" and report.passed and report.capstdout.strip():
        _printed.append((report.nodeid, report.capstdout.strip()))


def pytest_terminal_summary(terminalreporter) -> None:
    if not _printed:
        return
    terminalreporter.section("what the passing integration tests measured")
    for nodeid, text in _printed:
        terminalreporter.write_line(nodeid)
        for line in text.splitlines():
            terminalreporter.write_line("    " + line)


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

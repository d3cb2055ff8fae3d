"""Integration fixtures: a real broker for the session, a real worker per test."""

from __future__ import annotations

import os

import pytest

from streams.embedded_broker import EmbeddedBroker
from tests.integration.pipeline import Pipeline


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

"""SASL/SCRAM end to end: a real Apache Kafka broker with a SCRAM listener, and cxpulse's clients on it.

The broker (scripts/apache-kafka, jars from Maven Central, Java 17+) gets a second listener,
SASL_PLAINTEXT with SCRAM-SHA-256; the user is created through the PLAINTEXT listener. Then the
worker (its kafka-python admin creating topics, Faust's aiokafka consumer and producer, the
kafka-python helpers it runs at recovery) and `cxpulse simulate` connect with the password from a
file (CXPULSE_KAFKA_SASL_PASSWORD_FILE), and every event arrives in the warehouse; a wrong password
does not get in.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient, ScramMechanism, UserScramCredentialUpsertion
from kafka.errors import KafkaError

from streams.cli.embedded_broker import free_port
from streams.config import load_settings
from streams.process.connections import kafka_client_config
from tests.integration.pipeline import Pipeline

pytestmark = [pytest.mark.integration,
              pytest.mark.same_on_any_broker(reason="starts an Apache Kafka broker of its own with a SCRAM "
                                                    "listener, in every pass")]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "apache-kafka"
USER, PASSWORD = "cxpulse-worker", "scram-pa55"


@pytest.fixture(scope="module")
def scram_broker(tmp_path_factory):
    """(plaintext bootstrap, SASL bootstrap) of an Apache Kafka broker with a SCRAM user."""
    if not shutil.which("java") or not shutil.which("mvn"):
        pytest.skip("needs Java 17+ and Maven for scripts/apache-kafka")
    directory = tmp_path_factory.mktemp("apache-kafka-sasl")
    port, sasl_port = free_port(), free_port()
    started = subprocess.run([str(SCRIPT), "start", "--port", str(port), "--sasl-port", str(sasl_port),
                              "--dir", str(directory)], check=False, capture_output=True, text=True, timeout=300)
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
        try:
            result = admin.alter_user_scram_credentials(
                [UserScramCredentialUpsertion(USER, ScramMechanism.SCRAM_SHA_256, PASSWORD)])
            assert result == {USER: None}
        finally:
            admin.close()
        yield f"127.0.0.1:{port}", f"127.0.0.1:{sasl_port}"
    finally:
        subprocess.run([str(SCRIPT), "stop", "--dir", str(directory)], check=False, capture_output=True, timeout=120)


def scram_env(sasl_bootstrap: str, password_file: Path) -> dict[str, str]:
    return {"CXPULSE_KAFKA_BOOTSTRAP": sasl_bootstrap, "CXPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "CXPULSE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "CXPULSE_KAFKA_SASL_USERNAME": USER,
            "CXPULSE_KAFKA_SASL_PASSWORD_FILE": str(password_file)}


def test_worker_and_simulator_run_through_a_scram_listener(scram_broker, tmp_path):
    _, sasl_bootstrap = scram_broker
    (tmp_path / "kafka-password").write_text(PASSWORD + "\n")
    pipeline = Pipeline(sasl_bootstrap, tmp_path)
    pipeline.env |= scram_env(sasl_bootstrap, tmp_path / "kafka-password")
    try:
        pipeline.start_worker()
        simulated = subprocess.run(
            [sys.executable, "-m", "streams.cli", "simulate", "--count", "300", "--rate", "3000", "--seed", "11",
             "--bad-fraction", "0"], check=False, env={**pipeline.env, "CXPULSE_METRICS_PORT": "0"},
            capture_output=True, text=True, timeout=120)
        assert simulated.returncode == 0, simulated.stderr[-3000:]
        assert "produced\t300\nvalid\t300" in simulated.stdout
        pipeline.wait_stored(events=300, dead_letters=0, timeout=90)
        assert pipeline.stop_worker() == 0
    finally:
        pipeline.close()


def test_a_wrong_password_is_refused(scram_broker, tmp_path):
    _, sasl_bootstrap = scram_broker
    (tmp_path / "wrong").write_text("not-the-password")
    settings = load_settings(None, environ=scram_env(sasl_bootstrap, tmp_path / "wrong"))
    with pytest.raises(KafkaError):
        KafkaAdminClient(**kafka_client_config(settings), bootstrap_timeout_ms=3000).close()
    (tmp_path / "right").write_text(PASSWORD)
    settings = load_settings(None, environ=scram_env(sasl_bootstrap, tmp_path / "right"))
    KafkaAdminClient(**kafka_client_config(settings), bootstrap_timeout_ms=10000).close()

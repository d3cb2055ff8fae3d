"""cxpulse: a real-time contact-center event pipeline (Kafka + Faust + ClickHouse)."""

__version__ = "0.1.0"

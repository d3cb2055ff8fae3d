"""What every cxpulse process has, whatever it runs (worker, gateway, command line, simulator).

Its Prometheus metrics, its clients' connection settings (Kafka, ClickHouse), its logs' redaction,
and the worker's memory and garbage-collector tuning. Nothing here consumes, produces, commits or
holds state (streams.runtime), and nothing knows the contact center (streams.domain).
"""

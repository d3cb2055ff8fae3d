"""The stages: each wires domain logic (`streams.domain`) onto the runtime (`streams.runtime`).

ingest -> dedup -> identity -> detect -> dispatch, and the sink and webhook delivery beside them;
they talk only through Kafka topics. `streams.worker` registers them all on one app.
"""

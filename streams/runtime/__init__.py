"""The runtime layer every stage uses to consume, produce, commit and hold state.

Faust's app and consumer fixes, batch iteration and coalesced table writes, batch sources for the
per-event public topics, produce batches and envelopes on internal topics, the RocksDB state stores,
topics, connections, metrics and the worker's consumer lag and readiness. No contact-center logic lives here.
"""

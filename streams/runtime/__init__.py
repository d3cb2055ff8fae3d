"""The runtime layer every stage uses to consume, produce, commit and hold state.

Batch sources (one consumer group per stage: batches, flush, commit), tables (RocksDB per partition,
changelogged, rebuilt on assignment), produce batches and envelopes on internal topics, Faust's
producer fixes, topics, and the worker's consumer lag and readiness. No contact-center logic lives
here; metrics, connections and logs are streams.process.
"""

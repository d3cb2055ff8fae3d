"""Forget control records: an erasure's deletes, sent through a stage's own input topic.

A worker owns each partition's state store, so only the stage reading a partition can delete its
keys. The privacy stage sends one `Forget` per partition holding keys to delete, under the Kafka key
FORGET (the data records of these topics carry none, or "tick"), on the partition the data of those
keys is routed to (streams.runtime.envelopes.partition_of). The stage deletes them with its batch's other
writes (BatchWrites: local delete, changelog tombstone, cache entry dropped), and its committed
offset past the record is the acknowledgement (streams.stages.privacy).
"""

from __future__ import annotations

from collections import defaultdict

import msgspec

from streams.runtime.envelopes import partition_of

FORGET = b"cxpulse.forget"


class Forget(msgspec.Struct, array_like=True):
    erasure_id: str
    keys: list[str]
    within: str = ""  # for a store keyed otherwise: the key whose value holds them (a team's list)


encode = msgspec.msgpack.Encoder().encode
decode = msgspec.msgpack.Decoder(Forget).decode


def per_partition(erasure_id: str, keys: list[str], partitions: int) -> dict[int, Forget]:
    """{partition: the Forget of the keys routed there}, for the partitions that hold any."""
    grouped: dict[int, list[str]] = defaultdict(list)
    for key in sorted(set(keys)):
        grouped[partition_of(key.encode(), partitions)].append(key)
    return {p: Forget(erasure_id, ks) for p, ks in sorted(grouped.items())}

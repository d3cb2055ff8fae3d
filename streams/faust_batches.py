"""Batch iteration over a Faust stream that keeps table writes on the right partition.

`Stream.take_events()` buffers in the background, so while a batch is processed Faust's
"current event" is the newest buffered one. A table write uses the current event to pick its
changelog partition; processing event A while the current event is B (another partition) would
put A's state on B's changelog and lose it on the next rebalance. `each_event` points the
current-event context variable (what tables read) at each event in turn. It must not touch
`Stream.current_event`: take_events' background buffering reads that attribute to decide which
event it just buffered, and overwriting it makes Faust yield an old event twice.
Table operations must happen before the loop body's first await for that event.
Events are acked (their offsets become committable) only after the loop body has finished
with the whole batch: "process/store, then commit".
"""

from __future__ import annotations

import weakref
from typing import AsyncIterator, Iterator, Sequence

from faust.streams import _current_event


async def batches(stream, size: int, within: float) -> AsyncIterator[Sequence]:
    async for batch in stream.take_events(size, within=within):
        yield batch


def each_event(batch: Sequence) -> Iterator:
    for event in batch:
        _current_event.set(weakref.ref(event))
        yield event

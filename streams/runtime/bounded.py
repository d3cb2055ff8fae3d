"""A set that forgets its oldest members past a size: "seen recently" without unbounded memory."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class BoundedSet:
    def __init__(self, size: int) -> None:
        self._items: OrderedDict[Hashable, None] = OrderedDict()
        self._size = size

    def __contains__(self, item: Hashable) -> bool:
        return item in self._items

    def add(self, item: Hashable) -> bool:
        """True when the item is new."""
        if item in self._items:
            self._items.move_to_end(item)
            return False
        self._items[item] = None
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return True

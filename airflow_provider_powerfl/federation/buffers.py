"""Reassembly buffers reused once nothing decoded from them is alive.

A chunk copied into fresh memory costs the kernel's zeroing and a page fault
per page: in the channel benchmark that was the largest cost the channel adds
(more than hashing), four times the copy itself. Protocols receive
same-sized objects round after round and drop the previous ones, so every
Inbox in the process takes its large buffers from one pool: a buffer is
handed out again only when the pool holds the sole reference to it (CPython
reference counts; an array decoded from a buffer keeps it alive through its
base, so nothing still in use is ever overwritten).
"""

from __future__ import annotations

import sys
import threading
from collections import deque

import numpy as np

MIN_POOLED = 1 << 20  # smaller buffers come from malloc's free lists, already touched
_FREE_REFCOUNT = 2  # the pool's deque and getrefcount's own argument


class BufferPool:
    """Large uint8 buffers, most recently used last, `capacity` bytes at most referenced."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._buffers: deque[np.ndarray] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> np.ndarray:
        """An uninitialised uint8 array of `size` bytes that no live object shares."""
        if size < MIN_POOLED:
            return np.empty(size, dtype=np.uint8)
        with self._lock:
            for index in range(len(self._buffers)):
                fits = size <= len(self._buffers[index]) <= 2 * size
                if fits and sys.getrefcount(self._buffers[index]) == _FREE_REFCOUNT:
                    buffer = self._buffers[index]
                    del self._buffers[index]
                    self._buffers.append(buffer)
                    return buffer[:size]
            buffer = np.empty(size, dtype=np.uint8)
            self._buffers.append(buffer)
            self._bytes += size
            while self._bytes > self._capacity and len(self._buffers) > 1:
                self._bytes -= len(self._buffers.popleft())  # stays alive for its users, no longer reused
            return buffer


POOL = BufferPool(256 << 20)

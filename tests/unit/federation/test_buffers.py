from __future__ import annotations

import numpy as np

from airflow_provider_powerfl.federation import codec
from airflow_provider_powerfl.federation.buffers import MIN_POOLED, BufferPool


def test_a_buffer_is_reused_only_once_nothing_decoded_from_it_is_alive() -> None:
    pool = BufferPool(64 << 20)
    first = pool.take(MIN_POOLED * 2)
    first[:] = 1
    decoded = np.frombuffer(first, dtype=np.uint8)[5:9]  # like codec.decode's zero-copy arrays
    del first
    second = pool.take(MIN_POOLED * 2)
    assert not np.shares_memory(second, decoded)
    del decoded
    third = pool.take(MIN_POOLED * 2)  # the first buffer again, no one else holds it
    assert third.base is not None and len(third) == MIN_POOLED * 2
    assert not np.shares_memory(third, second)


def test_arrays_decoded_from_a_reused_buffer_keep_it_from_being_handed_out() -> None:
    pool = BufferPool(64 << 20)
    array = np.arange(MIN_POOLED, dtype=np.float32)
    buffer = pool.take(len(codec.encode_bytes(array)))
    buffer[:] = np.frombuffer(codec.encode_bytes(array), dtype=np.uint8)
    out = codec.decode(buffer)
    del buffer
    other = pool.take(len(codec.encode_bytes(array)))
    other[:] = 0
    np.testing.assert_array_equal(out, array)


def test_small_sizes_are_not_pooled_and_the_pool_forgets_the_oldest_beyond_its_capacity() -> None:
    pool = BufferPool(3 * MIN_POOLED)
    small = pool.take(100)
    assert len(small) == 100 and small.base is None
    held = [pool.take(MIN_POOLED) for _ in range(4)]  # all alive: four fresh buffers, the oldest forgotten
    oldest = held[0]
    del held
    reused = [pool.take(MIN_POOLED) for _ in range(3)]
    assert all(b.base is not None and not np.shares_memory(b, oldest) for b in reused)
    assert pool.take(MIN_POOLED).base is None  # the oldest is no longer the pool's to hand out

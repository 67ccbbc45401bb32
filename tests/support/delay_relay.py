"""A TCP relay that delays every byte by a fixed time each way: latency between parties where ``tc netem`` is missing.

This kernel has no netem (CONFIG_NET_SCH_NETEM is not set). Network.delay() redirects the parties' Kafka
connections to each other (nftables ``redirect`` in the router namespace) to this relay, run inside the
router; it finds each connection's original destination (SO_ORIGINAL_DST), connects there itself and passes
the bytes on in order, each chunk ``delay`` seconds after it arrived, both ways: a round trip takes
2 x ``delay`` longer. It prints each relayed connection's destination. ``python -m tests.support.delay_relay PORT DELAY_S``.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import time

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h


def original_destination(sock: socket.socket) -> tuple[str, int]:
    raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, packed = struct.unpack_from("!2xH4s", raw)
    return socket.inet_ntoa(packed), port


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy `reader` to `writer`, each chunk `delay` s after it was read; in order, without holding the reads up."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        while chunk := await reader.read(1 << 16):
            queue.put_nowait((time.monotonic() + delay, chunk))
        queue.put_nowait((time.monotonic() + delay, b""))

    reading = asyncio.create_task(read())
    try:
        while True:
            due, chunk = await queue.get()
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if not chunk:
                return
            writer.write(chunk)
            await writer.drain()
    finally:
        reading.cancel()


async def _relay(delay: float, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
    try:
        host, port = original_destination(client_w.get_extra_info("socket"))
        server_r, server_w = await asyncio.open_connection(host, port)
    except OSError:
        client_w.close()
        return
    print(f"{host}:{port}", flush=True)  # each connection relayed: what Network.undelay() returns
    pipes = [asyncio.create_task(_pipe(client_r, server_w, delay)), asyncio.create_task(_pipe(server_r, client_w, delay))]
    try:  # Kafka does not half-close: once one way ends (or breaks), the connection is over both ways
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pipe in pipes:
            pipe.cancel()
        client_w.close()
        server_w.close()


async def main(port: int, delay: float) -> None:
    server = await asyncio.start_server(lambda r, w: _relay(delay, r, w), "0.0.0.0", port)
    print("relaying", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))

"""Channel throughput: signed, chunked Party messages vs plain kafka-python, guest -> host broker, same run."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import threading
import time
import uuid
from typing import Any

import numpy as np
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from airflow_provider_powerfl.federation.envelope import new_nonce
from airflow_provider_powerfl.federation.kafka_transport import CONSUMER_CONFIG, PRODUCER_CONFIG, ensure_topic
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.party import DEFAULT_CHUNK_SIZE, Party
from airflow_provider_powerfl.federation.registry import PartyRegistry
from bench import KAFKA

MB = 1 << 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mb", type=int, default=256, help="megabytes sent each way of measuring")
    parser.add_argument("--message-mb", type=int, default=16, help="size of each object the channel sends")
    parser.add_argument("--chunk-mb", type=float, default=DEFAULT_CHUNK_SIZE / MB, help="wire chunk = raw record size")
    parser.add_argument("--rounds", type=int, default=4, help="raw/channel pairs, alternating, --mb split among them")
    parser.add_argument("--guest", default="127.0.0.1:19092", help="guest broker")
    parser.add_argument("--host", default="127.0.0.1:29092", help="host broker (the receiver's inbox)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    logging.getLogger("kafka").setLevel(logging.ERROR)  # its event-loop timing warnings are noise here
    _ensure_brokers({"guest": args.guest, "host": args.host})
    chunk = int(args.chunk_mb * MB)
    message = args.message_mb * MB
    rounds = max(1, args.rounds)
    per_round = max(1, args.mb * MB // message // rounds)
    source = np.frombuffer(os.urandom(message), dtype=np.uint8)
    round_mb = per_round * message / MB
    total_mb = round_mb * rounds
    print(
        f"sending {total_mb:.0f} MB each way, guest ({args.guest}) -> host broker ({args.host}), in {rounds} "
        f"alternating rounds of {per_round} x {args.message_mb} MB objects; {chunk / MB:g} MB chunks/records"
    )
    _raw(args.host, source, 1, chunk)  # warm both paths up (broker page cache, connections)
    _channel(args.guest, args.host, source, 1, chunk)
    raw_times, channel_times, raw_cpu, channel_cpu = [], [], 0.0, 0.0
    for round_ in range(rounds):
        elapsed, cpu = _raw(args.host, source, per_round, chunk)
        raw_times.append(elapsed)
        raw_cpu += cpu
        elapsed, cpu = _channel(args.guest, args.host, source, per_round, chunk)
        channel_times.append(elapsed)
        channel_cpu += cpu
        print(
            f"round {round_ + 1}: raw kafka-python {round_mb / raw_times[-1]:6.1f} MB/s, "
            f"powerfl channel {round_mb / channel_times[-1]:6.1f} MB/s"
        )
    raw, channel = total_mb / sum(raw_times), total_mb / sum(channel_times)
    print(
        f"total: channel {channel:.1f} MB/s, raw {raw:.1f} MB/s, ratio {channel / raw:.2f}; this process's CPU "
        f"(both ends, without the brokers): channel {channel_cpu / total_mb * 1e3:.2f} ms/MB, "
        f"raw {raw_cpu / total_mb * 1e3:.2f} ms/MB"
    )
    return {
        "bench": "channel",
        "mb": total_mb,
        "chunk_mb": chunk / MB,
        "message_mb": args.message_mb,
        "rounds": rounds,
        "channel_mb_per_s": round(channel, 1),
        "raw_mb_per_s": round(raw, 1),
        "ratio": round(channel / raw, 3),
        "channel_mb_per_s_rounds": [round(round_mb / t, 1) for t in channel_times],
        "raw_mb_per_s_rounds": [round(round_mb / t, 1) for t in raw_times],
        "channel_cpu_ms_per_mb": round(channel_cpu / total_mb * 1e3, 2),
        "raw_cpu_ms_per_mb": round(raw_cpu / total_mb * 1e3, 2),
    }


def _raw(host: str, source: np.ndarray, count: int, chunk: int) -> tuple[float, float]:
    """Plain producer -> consumer of the same bytes in records of the chunk size; (seconds, CPU seconds)."""
    topic = f"powerfl-bench-raw-{uuid.uuid4().hex[:8]}"
    config = {"bootstrap_servers": [host]}
    ensure_topic(config, topic)
    data = memoryview(source)  # slices of it go to the producer, like the channel's chunks
    records = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    consumer = KafkaConsumer(**config, **CONSUMER_CONFIG)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    producer = KafkaProducer(**config, **PRODUCER_CONFIG)
    expected = count * len(data)

    def produce() -> None:
        for _ in range(count):
            for record in records:
                producer.send(topic, value=record, partition=0)
        producer.flush()

    start, cpu = time.perf_counter(), time.process_time()
    sender = threading.Thread(target=produce)
    sender.start()
    received = 0
    last = b""
    while received < expected:
        for batch in consumer.poll(timeout_ms=1000).values():
            for record in batch:
                received += len(record.value)
                last = record.value
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    sender.join()
    producer.close()
    consumer.close()
    if received != expected or last != records[-1]:
        raise RuntimeError(f"raw consumer got {received} bytes, expected {expected}")
    return elapsed, cpu


def _channel(guest: str, host: str, source: np.ndarray, count: int, chunk: int) -> tuple[float, float]:
    """Guest Party sends `count` arrays to host Party over the two brokers; (seconds, CPU seconds)."""
    keys = {"10000": SigningKey.generate(), "20000": SigningKey.generate()}
    registry = PartyRegistry.from_dict(
        {
            "parties": {
                "10000": {"role": "guest", "bootstrap_servers": guest, "public_key": keys["10000"].public_key.pem()},
                "20000": {"role": "host", "bootstrap_servers": host, "public_key": keys["20000"].public_key.pem()},
            }
        }
    )
    job = f"bench-{uuid.uuid4().hex[:8]}"
    nonce = new_nonce()
    sender = Party.from_registry(registry, "10000", keys["10000"], job, 1, chunk_size=chunk, nonce=nonce)
    receiver = Party.from_registry(registry, "20000", keys["20000"], job, 1, chunk_size=chunk, nonce=nonce)
    sender.transport.connect("20000")  # type: ignore[attr-defined]  # before timing, like the raw producer

    def produce() -> None:
        for _ in range(count):
            sender.send("20000", "bench", source)
        sender.transport.flush()

    start, cpu = time.perf_counter(), time.process_time()
    thread = threading.Thread(target=produce)
    thread.start()
    sizes = []
    for _ in range(count):  # like the raw consumer: count every byte, compare the last object in full
        last = receiver.recv("10000", "bench", timeout=300)
        sizes.append(last.nbytes)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    thread.join()
    sender.close()
    receiver.close()
    if sizes != [source.nbytes] * count or not np.array_equal(last, source):
        raise RuntimeError("channel delivered arrays that differ from the ones sent")
    if receiver.inbox.rejected or receiver.inbox.duplicates:
        raise RuntimeError(f"channel refused chunks: {dict(receiver.inbox.rejected)}, {receiver.inbox.duplicates} dups")
    return elapsed, cpu


def _ensure_brokers(brokers: dict[str, str]) -> None:
    down = [name for name, addr in brokers.items() if not _answers(addr)]
    if not down:
        return
    print(f"brokers {down} not answering; starting them with {KAFKA} up {' '.join(down)}")
    subprocess.run([str(KAFKA), "up", *down], check=True)


def _answers(addr: str) -> bool:
    host, port = addr.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False

"""When a step's start-up phases ended, reported as one log line so ``powerfl bench startup`` can split
spawn-to-first-message into its parts (driver JVM, Python imports, SparkSession, reading inputs, channel).

Wall-clock seconds since the epoch, comparable with the launcher's spawn time on the same machine.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from py4j.protocol import Py4JError

PREFIX = "POWERFL-STARTUP "
_marks: dict[str, float] = {}


def mark(name: str) -> None:
    """Note the first time the phase ``name`` ended in this process."""
    _marks.setdefault(name, time.time())


def process_start() -> float | None:
    """When this process started (``/proc``; 10 ms ticks), None where there is no ``/proc``."""
    try:
        ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
        boot = next(float(line.split()[1]) for line in open("/proc/stat") if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def jvm_start(spark: Any) -> float | None:
    """When the driver JVM started (its RuntimeMXBean), None if the gateway cannot say."""
    try:
        return spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getStartTime() / 1000.0
    except (Py4JError, AttributeError):  # no JVM gateway (a stopped context)
        return None


def report(spark: Any) -> None:
    """Log the marks (and the JVM's and this process's start) as one ``POWERFL-STARTUP {json}`` line."""
    marks = {"jvm": jvm_start(spark), "python": process_start(), **_marks}
    logging.getLogger(__name__).info("%s%s", PREFIX, json.dumps({k: v for k, v in marks.items() if v is not None}))


def parse(log_text: str) -> dict[str, float] | None:
    """The marks a step's log reported, if it did."""
    for line in log_text.splitlines():
        if PREFIX in line:
            return json.loads(line.split(PREFIX, 1)[1])
    return None

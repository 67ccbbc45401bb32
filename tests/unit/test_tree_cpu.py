from __future__ import annotations

import subprocess
import sys

from airflow_provider_powerfl.bench.process_tree import TreeCpu

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\n"


def test_counts_a_grandchild_that_no_one_waits_for():
    # the child starts a CPU-bound grandchild and exits without reaping it, as a Spark JVM leaves pyspark's
    # daemon: rusage (what /usr/bin/time reports) never sees that CPU
    child = f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {BURN!r}])\ntime.sleep(1.5)\n"
    with TreeCpu(interval=0.1) as cpu:
        subprocess.run([sys.executable, "-c", child], check=True)
    assert cpu.seconds >= 0.5

from __future__ import annotations

import subprocess
import sys

from bench.process_tree import TreeCpu

GRANDCHILD = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.2: pass\n"


def test_keeps_the_reading_of_a_grandchild_no_one_waits_for(tmp_path):
    # the child starts a grandchild and exits without reaping it, as a Spark JVM leaves pyspark's daemon:
    # rusage (what /usr/bin/time reports) never sees that process, the sampler keeps its last reading
    pid_file = tmp_path / "grandchild.pid"
    child = (
        f"import subprocess, sys, time\np = subprocess.Popen([sys.executable, '-c', {GRANDCHILD!r}])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\ntime.sleep(1.0)\n"
    )
    with TreeCpu(interval=0.05) as cpu:
        subprocess.run([sys.executable, "-c", child], check=True)
    grandchild = int(pid_file.read_text())
    counted = [seconds for (pid, _), seconds in cpu.readings.items() if pid == grandchild]
    assert len(counted) == 1 and counted[0] > 0  # kept after it left the tree; TreeCpu.seconds sums the readings

"""Zip ``spark_jobs`` for ``spark-submit --py-files`` (cluster deploy mode, where the driver has no checkout).

python -m spark_jobs.package dist/spark_jobs.zip
"""

from __future__ import annotations

import sys
from pathlib import Path

from spark_jobs.common.session import build_zip


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m spark_jobs.package OUT.zip\n")
        return 2
    out = Path(args[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.write(f"{build_zip(out)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Zip ``spark_jobs`` for ``spark-submit --py-files`` (cluster deploy mode, where the driver has no checkout).

    python spark_jobs/package.py dist/spark_jobs.zip
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spark_jobs.common.session import build_zip  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python spark_jobs/package.py OUT.zip\n")
        return 2
    out = Path(args[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.write(f"{build_zip(out)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

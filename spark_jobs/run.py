"""The one file spark-submit is given: ``spark-submit spark_jobs/run.py <step> --spec spec.json``.

spark-submit runs a file, not a module, and puts the file's own directory first on ``sys.path``.
This file alone replaces it with the directory holding the ``spark_jobs`` package (the checkout, or
site-packages for an installed wheel), then runs the step module's ``main`` with the remaining arguments.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from airflow_provider_powerfl.jobs.contract import EXIT_STEP_ERROR, STEP_ERROR_PREFIX

STEPS = ("align", "class_archive", "feature_engineering", "inspect_data", "predict", "spare", "train")


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``<step> [args...]`` to ``spark_jobs.<step>.main(args)``; an unknown step is a step error."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in STEPS:
        step = repr(args[0]) if args else "none"
        usage = "spark-submit spark_jobs/run.py STEP --spec spec.json"
        sys.stderr.write(f"{STEP_ERROR_PREFIX}step {step}: expected one of {', '.join(STEPS)} (usage: {usage})\n")
        return EXIT_STEP_ERROR
    return importlib.import_module(f"spark_jobs.{args[0]}").main(args[1:])


if __name__ == "__main__":
    if not __package__:  # run as a file: import spark_jobs from its parent, not its own modules as top-level ones
        sys.path[0] = str(Path(__file__).resolve().parents[1])
    sys.exit(main())

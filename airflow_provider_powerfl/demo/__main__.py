"""``python -m airflow_provider_powerfl.demo``: see airflow_provider_powerfl.demo.run."""

from __future__ import annotations

import sys

from airflow_provider_powerfl.demo.run import main

sys.exit(main())

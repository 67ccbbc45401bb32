"""Reading a party's input into one layout: ``id`` (string), ``label`` (double, optional), features (double).

Every reader checks the data before a step sees it and raises a
:class:`DataError` naming the file and the column, line or row id at fault:
missing id/label column, a non-numeric value, a missing value (per the
input's ``missing`` policy), duplicate ids, an empty input. Federated steps
cannot recover from bad rows later: a NaN poisons every encrypted gradient of
every party, so nothing unchecked gets past this package.

``read`` picks the reader by format: ``tabular`` (csv, parquet, orc, hive tables) or ``libsvm``; ``table`` holds
the layout they share. Steps import from here.
"""

from spark_jobs.common.io.libsvm import parse_libsvm_line
from spark_jobs.common.io.read import read_arrays, read_input
from spark_jobs.common.io.table import ID, LABEL, Table, collect_arrays

__all__ = ["ID", "LABEL", "Table", "collect_arrays", "parse_libsvm_line", "read_arrays", "read_input"]

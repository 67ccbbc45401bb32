from __future__ import annotations

import csv

from airflow_provider_powerfl.datasets.breast import GUEST_FEATURES, write_breast_split


def _rows(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_split_by_columns_with_partial_overlap(tmp_path):
    split = write_breast_split(tmp_path)
    guest, host = _rows(split.guest_train), _rows(split.host_train)
    assert list(guest[0])[:2] == ["id", "y"] and len(guest[0]) == 2 + GUEST_FEATURES
    assert "y" not in host[0] and len(host[0]) == 1 + 30 - GUEST_FEATURES
    shared = {r["id"] for r in guest} & {r["id"] for r in host}
    assert len(shared) == split.shared_train_ids
    assert len(guest) > len(shared) and len(host) > len(shared)
    test_ids = {r["id"] for r in _rows(split.guest_test)}
    assert not test_ids & {r["id"] for r in guest}

"""A step's outputs published as Hive tables (params.output_tables): checked where the params enter, and only into
the tables the party's policy lists (none by default), whoever wrote the job conf."""

from __future__ import annotations

import pytest

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.params import validate_step_params
from airflow_provider_powerfl.jobs.spec import TaskSpec
from airflow_provider_powerfl.policy import PartyPolicy, PolicyRefused


def spec(tables: dict[str, str]) -> TaskSpec:
    return TaskSpec.from_dict({
        "job_id": "J", "party_id": "10000", "private_key": "/k", "nonce": "0f" * 16,
        "parties": [{"id": "10000", "role": "guest", "bootstrap_servers": "k:9092", "public_key": "/p"}],
        "outputs": {"dir": "/w/J/align"}, "params": {"output_tables": tables},
    })  # fmt: skip


def test_output_tables_name_hive_tables():
    assert validate_step_params("align", {"output_tables": {"train": "hive://fl.aligned"}}).output_tables == {
        "train": "hive://fl.aligned"
    }
    with pytest.raises(ConfigError, match=r"output_tables.*train: expected hive://<db>\.<table>, got 'fl\.aligned'"):
        validate_step_params("feature_engineering", {"output_tables": {"train": "fl.aligned"}})


def test_the_policy_lists_the_tables_a_step_may_publish():
    with pytest.raises(
        PolicyRefused, match=r"params\.output_tables\.train=.*hive://fl\.aligned.*not among output_tables \(none\)"
    ):
        PartyPolicy(output_dir="/w").enforce(spec({"train": "hive://fl.aligned"}), "align")
    PartyPolicy(output_dir="/w", output_tables=("hive://fl.aligned",)).enforce(spec({"train": "hive://fl.aligned"}), "align")
    PartyPolicy(output_dir="/w", output_tables=("hive://fl",)).enforce(spec({"train": "hive://fl.any"}), "align")
    with pytest.raises(PolicyRefused, match=r"hive://prod\.customers"):
        PartyPolicy(output_dir="/w", output_tables=("hive://fl",)).enforce(spec({"train": "hive://prod.customers"}), "align")

from __future__ import annotations

import re

from airflow_provider_powerfl.federation.kafka_transport import topic_name


def test_topic_names_are_legal_and_unique() -> None:
    assert topic_name("job-1", "10000") == "powerfl.job-1.10000"
    odd = [topic_name("job/1", "10000"), topic_name("job:1", "10000"), topic_name("j" * 400, "10000")]
    for name in odd:
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,249}", name)
    assert len(set(odd)) == 3
    assert topic_name("job_1", "10000") != topic_name("job/1", "10000")

from __future__ import annotations

import re
import socket

from airflow_provider_powerfl.federation.kafka_transport import answers, topic_name


def test_topic_names_are_legal_and_unique() -> None:
    assert topic_name("job-1", "10000") == "powerfl.job-1.10000"
    odd = [topic_name("job/1", "10000"), topic_name("job:1", "10000"), topic_name("j" * 400, "10000")]
    for name in odd:
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,249}", name)
    assert len(set(odd)) == 3
    assert topic_name("job_1", "10000") != topic_name("job/1", "10000")


def test_a_record_carries_the_head_in_a_header_or_the_whole_wire_message_in_its_value() -> None:
    from airflow_provider_powerfl.federation.kafka_transport import HEAD_HEADER, _wire

    assert _wire([("other", b"x"), (HEAD_HEADER, b"HEAD")], b"payload") == (b"HEAD", b"payload")
    assert _wire([(HEAD_HEADER, b"HEAD")], None) == (b"HEAD", b"")
    assert _wire([], b"head+payload") == (b"head+payload", None)
    assert _wire(None, None) == (b"", None)


def test_a_broker_answers_only_when_its_port_accepts() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        server = f"127.0.0.1:{listening.getsockname()[1]}"
        assert answers(server, 1.0)
    assert not answers(server, 1.0)  # closed now
    assert not answers("no-port-here", 1.0)

"""A job's view while this party's own broker is down: it answers from Airflow at once, the peers' states unknown and
why (docs/reliability.md, the disk-full fault), instead of waiting out a Kafka client's request timeouts."""

from __future__ import annotations

import socket

from airflow_provider_powerfl.plugins.flow_server import jobstatus


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def test_the_peers_are_unknown_and_their_events_unread_when_no_server_of_the_own_broker_answers(monkeypatch):
    def read(*_args):
        raise AssertionError("the events of a broker that does not answer are not read")

    monkeypatch.setattr(jobstatus, "known_events", read)
    server = closed_port()
    known, why = jobstatus._peer_news(None, {"dag_run_id": "job"}, "00", [server])
    assert known == {} and f"broker {server} does not answer" in why and "this party's broker" in why


def test_the_events_are_read_when_the_own_broker_answers(monkeypatch):
    monkeypatch.setattr(jobstatus, "known_events", lambda *_args: {"news": "here"})
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        server = f"127.0.0.1:{listening.getsockname()[1]}"
        assert jobstatus._peer_news(None, {"dag_run_id": "job"}, "00", [server]) == ({"news": "here"}, None)

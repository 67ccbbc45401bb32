"""A failed step's reason is the exception's own message, which Airflow's log keeps apart from the line's text."""

from __future__ import annotations

from airflow_provider_powerfl.plugins.flow_server.runs import _event

FAILED = {
    "timestamp": "2026-12-07T18:00:57.951851Z",
    "level": "error",
    "event": "Task failed with exception",
    "error_detail": [
        {"exc_type": "AgreementRefused", "exc_value": "party 2 rejected it", "is_cause": True},
        {
            "exc_type": "AirflowFailException",
            "exc_value": "party 1 does not start the job: party 2 rejected it",
            "is_cause": False,
        },
    ],
}


def test_the_raised_exception_names_why_not_its_cause() -> None:
    assert _event(FAILED) == (
        "Task failed with exception: AirflowFailException: party 1 does not start the job: party 2 rejected it"
    )


def test_a_line_without_an_exception_is_its_text() -> None:
    assert _event({"event": "sent the invitation", "error_detail": []}) == "sent the invitation"
    assert _event({"event": "failed", "error_detail": [{"exc_type": "X"}]}) == "failed"  # no message: nothing to add

"""The exit contract of every Spark step, read by the runtimes and operators.

A step exits 0 on success, EXIT_STEP_ERROR on its own error and EXIT_PEER_FAILED when a peer failed or went
silent; on failure its last ``POWERFL-ERROR: <message>`` line on stderr is the reason shown to the user. On
success it leaves RESULT_FILE in its output directory.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_STEP_ERROR = 2
EXIT_PEER_FAILED = 3  # the step stopped because a peer failed or went silent (PeerFailed, PeerSilent)
STEP_ERROR_PREFIX = "POWERFL-ERROR: "
RESULT_FILE = "result.json"


def step_error_in(log_text: str) -> str | None:
    """The message of the last ``POWERFL-ERROR:`` line a step wrote to stderr, if any."""
    found = None
    for line in log_text.splitlines():
        start = line.find(STEP_ERROR_PREFIX)
        if start >= 0:
            found = line[start + len(STEP_ERROR_PREFIX) :].strip()
    return found

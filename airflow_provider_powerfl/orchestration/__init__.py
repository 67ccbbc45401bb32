"""Multi-party orchestration: signed job invitations, the listener, job-wide failure and stop, the pipeline DSL."""

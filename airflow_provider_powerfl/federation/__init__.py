"""The channel between parties: signed, chunked, ordered messages over Kafka (or memory in tests)."""

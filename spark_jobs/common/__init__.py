"""Helpers shared by the Spark entry points: session, data I/O, atomic outputs, runner."""

"""Helpers the tests share: the Spark step launcher (launch)."""

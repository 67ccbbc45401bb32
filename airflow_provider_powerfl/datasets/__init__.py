"""Small public data sets the demo and tests split into parties (no download needed)."""

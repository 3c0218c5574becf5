"""Everything that computes. Never imports Qt."""

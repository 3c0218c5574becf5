"""Sweeps in the window and in pictures: the sweep browser dock and the report's plots."""

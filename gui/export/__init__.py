"""Export: snapshots (PNG, SVG, state), saved sessions and videos of a run.

Everything here writes atomically (a temporary file beside the target, then a rename)
and checks its inputs before any work starts.
"""

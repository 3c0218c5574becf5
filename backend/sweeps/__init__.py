"""Sweeps: many runs of one base configuration over a grid of keys and seeds, on Ray.

``spec`` reads and validates a sweep file, ``run_one`` trains one run and hands back its
files, ``table`` keeps the results, ``directory`` lays them out on disk, ``engine`` starts
or attaches Ray, ``runner`` schedules the runs, ``report`` aggregates a finished sweep.
"""

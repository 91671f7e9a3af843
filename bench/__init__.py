"""provmon benchmarks: measurement overhead, scheduler drift, CPU per probe.

Each module writes ``bench/results/<name>.json``; targets are reported as ``target`` and
``met``, never asserted. ``python -m bench`` runs them all and prints a summary.
"""

"""Robustness fuzzers of regretless (issue 14): mutated state bytes for every stateful class,
odd arrays for every batch call, and numeric extremes for every constructor and method.

Cases run in spawned worker processes (``runner``) so that a hang or an abort is recorded
with the (probe, seed, index) that reproduces it. ``python -m tests.fuzz --help`` runs them
at length; ``tests/test_fuzz.py`` runs a brief round in the default test run.
"""

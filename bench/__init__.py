"""Benchmarks: each builds the system through the same factories `gridcast run` uses.

Run them with `gridcast bench ...`; the README lists the figures.
"""

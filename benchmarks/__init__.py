"""Benchmarks of the engine against PyTorch, JAX and HIPS autograd on the same workloads.

Run ``python benchmarks/run.py`` (see ``benchmarks/README.md``).  Each workload module builds a
list of :class:`benchmarks.harness.Case` (one per implementation); ``run.py`` times them,
checks that their results agree, and writes a table, ``results.json`` and a PNG.
"""

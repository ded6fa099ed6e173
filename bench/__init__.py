"""ARSeq benchmarks: `python -m bench` runs them all and prints one table.

Each benchmark lives in its own module, registers itself with `bench.registry.benchmark`
and returns `Result`s (a figure, its unit and its target). See BENCHMARKS.md.
"""

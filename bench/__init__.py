"""Benchmarks (not tests). `make bench` runs every bench/bench_*.py module's `run()`.

Each benchmark prints its figures as `name: key=value ... (goal ...)` lines, measured as
ratios inside one run so the machine's speed cancels out. They run on PostgreSQL and Redis
(scripts/with-test-services) in a database of their own, `portal_bench` (`portal_sN_bench` under
TEST_SLOT=N).
"""

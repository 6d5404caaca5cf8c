"""Profile: where the engine's CPU and wall time go per copied order (measurement, not a test).

``python -m bench.profile --followers 10 --orders 200``. The simulator runs in its own process
(its CPU is not counted); the engine runs in this one and copies leader orders paced as in
``bench.fanout``. Three passes, each on a fresh engine, store and accounts: ``cpu`` (yappi, CPU
clock, every engine thread), ``wall`` (yappi, wall clock) and ``timeline`` (no profiler: the
product's instruments -- ``supervision.instrument``, ``store.instrument``, ``dhan.instrument``
-- time message hops, journal writes and HTTP requests; per-thread CPU from ``/proc``). Then
micro-benchmarks of the pieces. Needs ``pip install yappi`` for the profiled passes. Method and
results: ``docs/performance.md``, "Where the CPU goes".

Modules, one job each: ``engine_run`` (a pass's engine and its drive), ``yappi_pass``,
``recorder`` (the instruments) and ``timeline``, ``micro`` (HTTP, journal, metrics, JSON),
``ping`` (a pykka round trip); ``__main__`` runs the passes asked for.
"""

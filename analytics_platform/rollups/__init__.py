"""Rollups: the marts of every metric family at every grain, computed from raw by SQL.

Plain Python, no Dagster: `families` names the marts and their columns, `runner`
replaces one window of a mart, `checks` verifies it, `bookkeeping` knows which buckets
are missing or stale. The Dagster assets, checks and sensor are thin shells over these.
"""

"""Automation of the rollups: which partitions to run when, declared in code.

`planner` decides (plain Python, tested without Dagster's daemon); `sensors` is the thin
Dagster sensor that feeds it the database's due buckets and the runs in flight, and turns
its plan into run requests.
"""

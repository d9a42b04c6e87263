"""The cold archive: raw months as Parquet, verified before retention drops them, read with
DuckDB. Plain functions, no Dagster imports (analytics_platform/assets/archive.py is the
Dagster shell). See docs/archive.md."""

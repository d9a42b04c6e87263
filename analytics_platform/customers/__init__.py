"""What the platform knows about each customer: plain functions and SQL (no Dagster)."""

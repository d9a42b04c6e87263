"""What the platform knows about each customer: profiles, spending, cohorts, RFM scores and
segments. Plain functions and SQL (no Dagster)."""

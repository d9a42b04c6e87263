-- Whether day %(day)s may be computed from the versions before it: the day before was
-- materialized, or ingestion never wrote anything before the day (nothing to carry).
SELECT EXISTS (
        SELECT 1 FROM marts.customer_days
        WHERE asset = %(asset)s AND day = %(day)s::date - 1
    ) OR NOT EXISTS (
        SELECT 1 FROM ingest.touched_hours
        WHERE raw_table IN ('raw.transactions', 'raw.user_activity', 'raw.user_events')
            AND hour_start < %(window_start)s
    ) AS ready

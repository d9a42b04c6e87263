-- Held to the end of the transaction that moves or rebuilds SPENDING_TREND's carried
-- state (one state: two days' runs take turns), and, shared, on every local day of the
-- %(window_days)s x %(windows)s days ending with %(day)s, so that a rebuild of one of
-- them (ledger_day_stats_lock.sql) either committed before the state is read, or starts
-- after it is written and so is recorded later than the state.
SELECT pg_advisory_xact_lock(hashtext('ml.spending_trend_cells'));

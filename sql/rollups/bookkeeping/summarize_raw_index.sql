-- Brings the time index of the mart's raw table up to date over [window_start,
-- window_end) before a run reads it (see marts.summarize_raw_brin in migration 011).
SELECT marts.summarize_raw_brin(%(raw_table)s::regclass, %(window_start)s, %(window_end)s)

-- Brings raw.transactions' time index up to date over the days read (as the rollups do:
-- rows not yet summarized make the BRIN index match every range).
SELECT marts.summarize_raw_brin('raw.transactions'::regclass,
    %(first_day)s::date::timestamp AT TIME ZONE %(tz)s,
    (%(last_day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)

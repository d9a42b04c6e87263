-- Whether every local day of [%(first_day)s, %(last_day)s] in %(tz)s is exactly the
-- instants [its midnight, the next day's midnight), so that the daily rows of
-- ml.spend_day_stats and ml.wallet_day_stats add up to what the raw-reading rule SQL
-- (which cuts from local midnights and buckets by local date) sees. False only in a zone
-- whose DST change skips or repeats midnight: the rules then read the raw rows.
SELECT coalesce(bool_and(
           ((d::timestamp AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s)::date = d::date
           AND (((d::timestamp AT TIME ZONE %(tz)s) - interval '1 microsecond')
                AT TIME ZONE %(tz)s)::date = d::date - 1), true) AS aligned
FROM generate_series(%(first_day)s::date, %(last_day)s::date + 1, interval '1 day') AS d;

-- A user's ('' = the platform) cashflow per calendar month (in the reporting zone) and
-- currency, summed from the daily marts, so the current month counts its closed days.
SELECT
    date_trunc('month', c.bucket_start, %(tz)s) AS bucket_start,
    c.currency,
    sum(c.outflow) AS spending,
    sum(c.inflow) AS income,
    sum(c.net) AS net,
    sum(c.inflow_count + c.outflow_count)::bigint AS transactions
FROM marts.cashflow_daily c
WHERE c.user_id = %(user_id)s
    AND c.bucket_start >= %(window_start)s AND c.bucket_start < %(window_end)s
GROUP BY 1, 2
ORDER BY 1, 2

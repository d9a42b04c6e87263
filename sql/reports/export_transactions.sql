-- Itemized transactions of [start, end) in occurred_at order, as the session's scope may
-- see them (api.export_transactions); the API streams it (COPY or a server-side cursor).
-- Every time twice: `*_utc` (ISO 8601, Z) and `*_reporting_zone` (wall-clock time in
-- REPORTING_TIMEZONE, named in the response's Reporting-Timezone header). Amounts as
-- stored: decimal major units.
SELECT transaction_id, event_id,
    to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at_utc,
    to_char(occurred_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD"T"HH24:MI:SS.US') AS occurred_at_reporting_zone,
    to_char(ingested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ingested_at_utc,
    to_char(ingested_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD"T"HH24:MI:SS.US') AS ingested_at_reporting_zone,
    user_id, merchant_id, recipient_id, transaction_type, category, status, payment_method,
    failure_reason, amount::text AS amount, currency, retry_count, processing_ms
FROM api.export_transactions
WHERE occurred_at >= %(start)s AND occurred_at < %(end)s
ORDER BY occurred_at, event_id

-- Itemized transactions of [start, end) in occurred_at order, as the session's scope may
-- see them (api.export_transactions); the API streams it (COPY or a server-side cursor).
-- Every time twice: `*_utc` and `*_reporting_zone` (wall-clock time in REPORTING_TIMEZONE,
-- named in the response's Reporting-Timezone header), both in PostgreSQL's timestamp
-- output `YYYY-MM-DD HH:MM:SS[.ffffff]` (RFC 3339's space form; JSON lines use a `T`).
-- Amounts as stored: decimal major units. The rows are api.export_transactions, or
-- export_rows_with_archive.sql where retention dropped raw rows of the window.
SELECT transaction_id, event_id,
    occurred_at AT TIME ZONE 'UTC' AS occurred_at_utc,
    occurred_at AT TIME ZONE %(tz)s AS occurred_at_reporting_zone,
    ingested_at AT TIME ZONE 'UTC' AS ingested_at_utc,
    ingested_at AT TIME ZONE %(tz)s AS ingested_at_reporting_zone,
    user_id, merchant_id, recipient_id, transaction_type, category, status, payment_method,
    failure_reason, amount, currency, retry_count, processing_ms
FROM {rows}
WHERE occurred_at >= %(start)s AND occurred_at < %(end)s
ORDER BY occurred_at, event_id

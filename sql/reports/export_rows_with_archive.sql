-- The export's rows (api.export_transactions) with, beside them, the archived rows of the
-- window whose raw rows retention dropped, staged by the API from the Parquet files into
-- pg_temp.export_archived (api/export_archive.py): the same types, so the export prints
-- them exactly as it printed the raw rows. The money comes back at its own scale (the
-- files keep it at 18 digits beside `amount__scale`). The key's scope applies to the
-- staged rows as the view applies it to raw, and an archived row that raw holds again (an
-- event replayed after its month was dropped) is left to raw: each transaction once.
(
    SELECT occurred_at, ingested_at, event_id, transaction_id, user_id, merchant_id,
        recipient_id, amount, currency, transaction_type, category, status, payment_method,
        failure_reason, retry_count, processing_ms
    FROM api.export_transactions
    UNION ALL
    SELECT a.occurred_at, a.ingested_at, a.event_id, a.transaction_id, a.user_id,
        a.merchant_id, a.recipient_id, round(a.amount, a.amount__scale), a.currency,
        a.transaction_type, a.category, a.status, a.payment_method, a.failure_reason,
        a.retry_count, a.processing_ms
    FROM pg_temp.export_archived a
    WHERE current_setting('app.scope', true) IN ('admin', 'merchant')
        AND api.scope_sees(a.merchant_id)
        AND NOT EXISTS (
            SELECT 1 FROM api.export_transactions r
            WHERE r.event_id = a.event_id AND r.occurred_at = a.occurred_at
        )
) AS export_transactions

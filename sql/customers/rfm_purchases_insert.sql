-- Successful purchases per reporting-zone day, user and currency of the days
-- [first_day, last_day], cut in the reporting zone `tz`. Purchases are PAYMENT and BILL_PAYMENT: money a customer
-- spends with a merchant or biller. TRANSFER_OUT (to another person) and WITHDRAWAL (to
-- the user's own bank) move money but buy nothing; REFUNDED payments are not revenue.
INSERT INTO customers.rfm_daily_purchases (day, user_id, currency, payments, amount)
SELECT (occurred_at AT TIME ZONE %(tz)s)::date, user_id, currency, count(*), sum(amount)
FROM raw.transactions
WHERE occurred_at >= (%(first_day)s::date::timestamp AT TIME ZONE %(tz)s)
    AND occurred_at < ((%(last_day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
    AND status = 'SUCCESS' AND transaction_type IN ('PAYMENT', 'BILL_PAYMENT')
GROUP BY 1, 2, 3

-- Wallets per currency over the month, from the wallet-balance events alone:
-- opening = each wallet's balance after its last event before the month (for a wallet
-- first seen in the month: the balance its first event implies before it, since wallets
-- open with a balance no event reports), closing = after its last event up to the month's end,
-- credits and debits = the change amounts in between. opening + credits - debits =
-- closing holds exactly when every wallet's events form an unbroken chain.
WITH month_events AS (
    SELECT wallet_id, currency,
        sum(change_amount) FILTER (WHERE change_type = 'CREDIT') AS credits,
        sum(change_amount) FILTER (WHERE change_type = 'DEBIT') AS debits,
        count(*) AS events
    FROM raw.wallet_balances
    WHERE occurred_at >= %(month_start)s AND occurred_at < %(month_end)s
    GROUP BY wallet_id, currency
),
opening AS (
    SELECT DISTINCT ON (wallet_id, currency) wallet_id, currency, balance
    FROM raw.wallet_balances
    WHERE occurred_at < %(month_start)s
        AND (wallet_id, currency) IN (SELECT wallet_id, currency FROM month_events)
    ORDER BY wallet_id, currency, occurred_at DESC, event_id DESC
),
first_in_month AS (
    SELECT DISTINCT ON (wallet_id, currency) wallet_id, currency,
        balance + CASE WHEN change_type = 'DEBIT' THEN change_amount ELSE -change_amount END
            AS balance_before
    FROM raw.wallet_balances
    WHERE occurred_at >= %(month_start)s AND occurred_at < %(month_end)s
    ORDER BY wallet_id, currency, occurred_at, event_id
),
closing AS (
    SELECT DISTINCT ON (wallet_id, currency) wallet_id, currency, balance
    FROM raw.wallet_balances
    WHERE occurred_at >= %(month_start)s AND occurred_at < %(month_end)s
    ORDER BY wallet_id, currency, occurred_at DESC, event_id DESC
),
untouched AS (
    -- Wallets with no event in the month: opening = closing, nothing in between.
    SELECT DISTINCT ON (wallet_id, currency) wallet_id, currency, balance
    FROM raw.wallet_balances
    WHERE occurred_at < %(month_start)s
        AND (wallet_id, currency) NOT IN (SELECT wallet_id, currency FROM month_events)
    ORDER BY wallet_id, currency, occurred_at DESC, event_id DESC
)
SELECT currency,
    sum(opening) AS opening, sum(credits) AS credits, sum(debits) AS debits,
    sum(closing) AS closing, sum(wallets)::bigint AS wallets, sum(events)::bigint AS events
FROM (
    SELECT m.currency, coalesce(o.balance, f.balance_before) AS opening, coalesce(m.credits, 0) AS credits,
        coalesce(m.debits, 0) AS debits, c.balance AS closing, 1 AS wallets, m.events
    FROM month_events m
    JOIN closing c USING (wallet_id, currency)
    JOIN first_in_month f USING (wallet_id, currency)
    LEFT JOIN opening o USING (wallet_id, currency)
    UNION ALL
    SELECT currency, balance, 0, 0, balance, 1, 0 FROM untouched
) w
GROUP BY currency
ORDER BY currency

-- The outcome of a verification. A month archived again while it ran (archived_at moved)
-- is left unverified: what was checked is no longer what is recorded.
UPDATE archive.months
SET verified_at = CASE WHEN %(problem)s::text IS NULL THEN now() END,
    verification_problem = %(problem)s
WHERE raw_table = %(raw_table)s AND month = %(month)s AND archived_at = %(archived_at)s

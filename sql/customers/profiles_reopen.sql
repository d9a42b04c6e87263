-- Re-running day %(day)s: the versions it wrote closed their users' previous versions;
-- give those back the end they had before (the next version's start, or NULL).
UPDATE marts.customer_profiles p
SET valid_to = d.valid_to
FROM marts.customer_profiles d
WHERE d.valid_from = %(day)s AND p.user_id = d.user_id AND p.valid_to = %(day)s

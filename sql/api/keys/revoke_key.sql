-- Revokes one key named by id or prefix (the first revocation time is kept); returns it.
UPDATE api.api_keys
SET revoked_at = coalesce(revoked_at, now())
WHERE id = %(id)s OR prefix = %(prefix)s
RETURNING id, prefix, name, scope, merchant_id, created_at, revoked_at, last_used_at

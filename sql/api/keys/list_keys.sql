-- Every API key without its hash, newest first.
SELECT id, prefix, name, scope, merchant_id, created_at, revoked_at, last_used_at
FROM api.api_keys
ORDER BY created_at DESC, id DESC

-- A new API key: only its SHA-256 is stored; returns the row's id.
INSERT INTO api.api_keys (prefix, key_hash, name, scope, merchant_id)
VALUES (%(prefix)s, %(key_hash)s, %(name)s, %(scope)s, %(merchant_id)s)
RETURNING id

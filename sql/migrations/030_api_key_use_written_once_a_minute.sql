-- api.authenticate_key (010) said it records a key's use at most once a minute, but its
-- UPDATE ... SET last_used_at = CASE ... ELSE last_used_at END wrote a new row version on
-- every check (an UPDATE writes whether or not a value changes): a dead tuple and WAL per
-- key check. Now only a key last recorded over a minute ago is written; the check itself
-- is a read. CREATE OR REPLACE keeps the function's grants.
CREATE OR REPLACE FUNCTION api.authenticate_key(p_prefix text, p_hash bytea)
RETURNS TABLE (key_id bigint, name text, scope text, merchant_id text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE api.api_keys k
    SET last_used_at = now()
    WHERE k.prefix = p_prefix AND k.key_hash = p_hash AND k.revoked_at IS NULL
      AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute');
    RETURN QUERY
    SELECT k.id, k.name, k.scope, k.merchant_id
    FROM api.api_keys k
    WHERE k.prefix = p_prefix AND k.key_hash = p_hash AND k.revoked_at IS NULL;
END
$$;

-- Would row-level security be bypassed for the role the API's queries run as? True when
-- it is a superuser, has BYPASSRLS, or owns one of the tables the policies protect.
SELECT r.rolsuper OR r.rolbypassrls OR EXISTS (
    SELECT 1
    FROM pg_policy p
    JOIN pg_class c ON c.oid = p.polrelid
    WHERE p.polname = 'api_scope' AND pg_has_role(current_user, c.relowner, 'USAGE')
) AS bypasses, (SELECT count(*) FROM pg_policy WHERE polname = 'api_scope') AS policies
FROM pg_roles r
WHERE r.rolname = current_user

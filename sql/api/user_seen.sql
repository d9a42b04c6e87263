-- Whether the user ever moved money (has any daily cashflow row).
SELECT EXISTS (SELECT 1 FROM marts.cashflow_daily WHERE user_id = %(user_id)s) AS seen

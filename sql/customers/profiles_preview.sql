-- The first rows a customer run wrote (valid_from in [first, last]), for the UI;
-- {table} is one of the customer tables (a constant of the asset, never user input).
SELECT * FROM {table} WHERE valid_from BETWEEN %(first)s AND %(last)s ORDER BY 1, 2, 3 LIMIT 10

DELETE FROM marts.customer_profiles WHERE valid_from = %(day)s

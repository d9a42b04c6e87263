DELETE FROM marts.customer_profile_currencies WHERE valid_from = %(day)s

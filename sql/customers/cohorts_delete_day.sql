DELETE FROM marts.customer_cohorts WHERE valid_from = %(day)s

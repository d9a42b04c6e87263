DELETE FROM marts.customer_spending WHERE valid_from = %(day)s

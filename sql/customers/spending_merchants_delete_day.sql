DELETE FROM customers.spending_merchants WHERE valid_from = %(day)s

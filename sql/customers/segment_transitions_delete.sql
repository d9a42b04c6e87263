DELETE FROM customers.segment_transitions WHERE day = %(day)s

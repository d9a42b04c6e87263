SELECT customers.clear_day('customers.rfm_state'::regclass, %(day)s)

DELETE FROM ml.budget_day_spend WHERE day = %(day)s;

DELETE FROM ml.spend_day_stats WHERE day = %(day)s;

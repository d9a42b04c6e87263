DELETE FROM ml.user_day_stats WHERE day = %(day)s;

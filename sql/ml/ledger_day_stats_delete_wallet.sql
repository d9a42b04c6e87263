DELETE FROM ml.wallet_day_stats WHERE day = %(day)s;

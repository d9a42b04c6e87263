DELETE FROM ml.user_features WHERE day = %(day)s;

DELETE FROM recommendations.daily WHERE day = %(day)s AND type = ANY(%(types)s);

DELETE FROM marts.recommendations WHERE day = %(day)s AND type = ANY(%(types)s);

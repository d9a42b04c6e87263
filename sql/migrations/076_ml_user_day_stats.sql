-- ml.user_day_stats: what the recommendation features need of one local day's raw rows,
-- per user, so that a feature day reads 90 small daily rows per user instead of 90 days
-- of raw.transactions and raw.user_activity (issue 14's benchmark: 432 us/user before).
-- `day` is a local date in the time zone recorded for it in ml.user_day_stats_days.
-- A day is replaced whole (delete + insert in one transaction) from that day's raw rows.
CREATE TABLE IF NOT EXISTS ml.user_day_stats (
    day date NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    -- Earliest transaction of any status (NULL: app activity only).
    first_at timestamptz,
    -- Latest successful transaction (NULL: none that day).
    last_success_at timestamptz,
    successes integer NOT NULL CHECK (successes >= 0),
    failures integer NOT NULL CHECK (failures >= 0),
    -- Distinct merchants paid successfully, distinct app sessions: distinct counts over
    -- several days need the values, not per-day counts (a session can cross midnight).
    merchants text[] NOT NULL,
    sessions text[] NOT NULL,
    PRIMARY KEY (day, user_id)
);

-- One row per day held above: the time zone its local day was cut in, and the sum of
-- ingest.touched_hours.rows_ingested over the day's hours of raw.transactions and
-- raw.user_activity when it was built: a different sum now means late events reached
-- the day, which is then rebuilt before a feature day reads it.
CREATE TABLE IF NOT EXISTS ml.user_day_stats_days (
    day date PRIMARY KEY,
    tz text NOT NULL,
    source_rows bigint NOT NULL,
    users integer NOT NULL,
    built_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

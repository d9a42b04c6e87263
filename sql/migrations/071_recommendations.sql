-- recommendations/daily: the day's recommendations per user (PayU's table, extended).
-- id is deterministic (day, user, type), so a re-run of a day writes the same ids; the
-- day's rows are replaced as a whole. Readable by the API's reader role (schema marts).
CREATE TABLE IF NOT EXISTS marts.recommendations (
    id uuid PRIMARY KEY,
    day date NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    type text COLLATE "C" NOT NULL CHECK (type IN (
        'SAVINGS_GOAL', 'BUDGET_ALERT', 'SPENDING_TREND', 'NEW_FEATURE', 'PROMOTION',
        'INVESTMENT', 'INACTIVITY_REMINDER')),
    title text NOT NULL,
    description text NOT NULL,
    action_url text NOT NULL,
    priority smallint NOT NULL CHECK (priority BETWEEN 1 AND 5),
    score double precision NOT NULL,
    reason jsonb NOT NULL,
    model_name text NOT NULL,
    model_version integer,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL CHECK (expires_at > created_at)
);
CREATE INDEX IF NOT EXISTS recommendations_day ON marts.recommendations (day);
CREATE INDEX IF NOT EXISTS recommendations_user ON marts.recommendations (user_id, expires_at);

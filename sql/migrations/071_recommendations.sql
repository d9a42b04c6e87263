-- recommendations/daily: the day's recommendations per user (PayU's table, extended).
-- id is deterministic (day, user, type), so a re-run of a day writes the same ids; the
-- day's rows of the types a run writes are replaced as a whole. No API role is granted
-- anything yet: the endpoint that serves these rows must add its grant together with a
-- row-level policy under the API's key scope (as migration 045 does for customers).
CREATE SCHEMA IF NOT EXISTS recommendations;

CREATE TABLE IF NOT EXISTS recommendations.daily (
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
CREATE INDEX IF NOT EXISTS daily_day ON recommendations.daily (day);
CREATE INDEX IF NOT EXISTS daily_user ON recommendations.daily (user_id, expires_at);

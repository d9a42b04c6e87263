-- Schema `ml`: the recommendation models' feature table and model store (issue 14).
--
-- No role used by the API is granted anything here: models are loaded from ml.models
-- and unpickled, which runs code, so only the platform's own
-- assets may ever write that table.
CREATE SCHEMA IF NOT EXISTS ml;

-- ml/user_features: one row per user and day D (a daily partition) for every user with
-- a successful transaction in the 90 days before the end of D in REPORTING_TIMEZONE;
-- each value is "as of the end of D" and reads only events before it. Column meanings:
-- analytics_platform/ml/features.py (FEATURE_COLUMNS). A re-run of D replaces D.
CREATE TABLE IF NOT EXISTS ml.user_features (
    day date NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    recency_days double precision NOT NULL CHECK (recency_days >= 0),
    first_seen_days double precision NOT NULL CHECK (first_seen_days >= recency_days),
    tx_7d integer NOT NULL,
    tx_prev_7d integer NOT NULL,
    tx_30d integer NOT NULL,
    active_days_30d integer NOT NULL,
    failed_7d integer NOT NULL,
    failed_30d integer NOT NULL,
    merchants_30d integer NOT NULL,
    sessions_14d integer NOT NULL,
    PRIMARY KEY (day, user_id)
);

-- The model store: one row per trained model version. `artifact` is the pickle of
-- the fitted estimator; `metrics` the holdout evaluation beside the baseline's;
-- `accepted` whether the blocking check let it become the champion.
CREATE TABLE IF NOT EXISTS ml.models (
    model_name text COLLATE "C" NOT NULL,
    version integer NOT NULL CHECK (version > 0),
    trained_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    train_first_day date NOT NULL,
    train_last_day date NOT NULL,
    holdout_first_day date NOT NULL CHECK (holdout_first_day > train_last_day),
    holdout_last_day date NOT NULL CHECK (holdout_last_day >= holdout_first_day),
    parameters jsonb NOT NULL,
    metrics jsonb NOT NULL,
    data_seen jsonb NOT NULL,
    artifact bytea NOT NULL,
    accepted boolean NOT NULL,
    PRIMARY KEY (model_name, version)
);

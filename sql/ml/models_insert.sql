-- A new version of model %(name)s: one more than its newest (the table's key refuses a race).
INSERT INTO ml.models (
    model_name, version, train_first_day, train_last_day, holdout_first_day,
    holdout_last_day, parameters, metrics, data_seen, artifact, accepted
)
SELECT %(name)s,
       coalesce((SELECT max(version) FROM ml.models WHERE model_name = %(name)s), 0) + 1,
       %(train_first_day)s, %(train_last_day)s, %(holdout_first_day)s, %(holdout_last_day)s,
       %(parameters)s::jsonb, %(metrics)s::jsonb, %(data_seen)s::jsonb, %(artifact)s,
       %(accepted)s
RETURNING version;

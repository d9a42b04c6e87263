SELECT model_name, version, train_first_day, train_last_day, holdout_first_day,
       holdout_last_day, parameters, metrics, data_seen, accepted, artifact
FROM ml.models
WHERE model_name = %(name)s
ORDER BY version DESC
LIMIT 1;

-- Keeps the windows of the %(keep)s newest days: the next day needs only the newest, the
-- others let a re-run of a recent day be carried too.
DELETE FROM ml.interaction_windows
WHERE day < ALL (SELECT day FROM ml.interaction_windows ORDER BY day DESC LIMIT %(keep)s);

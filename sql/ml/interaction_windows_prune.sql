-- Keeps the windows of the %(keep)s newest days and the one just written (%(day)s): the
-- next day needs only the newest, the others let a re-run of a recent day be carried too,
-- and a backfill of older days carries each from the one it wrote before.
DELETE FROM ml.interaction_windows
WHERE day <> %(day)s
    AND day < ALL (SELECT day FROM ml.interaction_windows ORDER BY day DESC LIMIT %(keep)s);

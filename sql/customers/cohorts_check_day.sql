-- Checks of the cohort cells of day %(day)s: each cohort's size equals the registrations
-- the user lifecycle mart (marts.user_lifecycle_daily, country '') counted over the
-- cohort's days up to the end of the day (users registering twice would break it), and
-- actives and payers never exceed the size.
WITH written AS (
    SELECT * FROM marts.customer_cohorts WHERE valid_from = %(day)s AND currency = ''
),
cohorts AS (
    SELECT DISTINCT cohort_grain, cohort_start, cohort_size FROM written
),
registrations AS (
    SELECT c.cohort_grain, c.cohort_start, c.cohort_size, (
        SELECT coalesce(sum(m.registrations), 0)
        FROM marts.user_lifecycle_daily m
        WHERE m.country = ''
            AND m.bucket_start >= (c.cohort_start::timestamp AT TIME ZONE %(tz)s)
            AND m.bucket_start < least(
                ((c.cohort_start + ('1 ' || c.cohort_grain)::interval)::timestamp AT TIME ZONE %(tz)s),
                %(window_end)s::timestamptz)
    ) AS registered
    FROM cohorts c
)
SELECT
    (SELECT count(*) FROM written) AS cells,
    (SELECT count(*) FROM registrations WHERE registered <> cohort_size) AS cohorts_off,
    (SELECT string_agg(cohort_grain || ' ' || cohort_start || ': ' || cohort_size || ' users, '
        || registered || ' registrations', '; ') FROM registrations WHERE registered <> cohort_size) AS detail,
    (SELECT count(*) FROM written WHERE active_users > cohort_size OR paying_users > cohort_size) AS cells_over_size

-- When each of the month's reports was first rendered (a re-render keeps that time).
SELECT merchant_id, first_rendered_at
FROM reports.monthly_reports
WHERE month = %(month)s

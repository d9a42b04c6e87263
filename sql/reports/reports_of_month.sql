-- Every stored report of a month (for the asset check).
SELECT merchant_id, document, first_rendered_at
FROM reports.monthly_reports
WHERE month = %(month)s
ORDER BY merchant_id

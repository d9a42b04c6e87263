-- One stored report, as the session's scope may see it (row-level security).
SELECT document, html, etag, rendered_at, render_reason, first_rendered_at
FROM reports.monthly_reports
WHERE month = %(month)s AND merchant_id = %(merchant)s

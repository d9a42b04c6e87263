-- Stores one rendering; the first rendering's time survives re-renders.
INSERT INTO reports.monthly_reports AS r
    (month, merchant_id, document, html, etag, rendered_at, render_reason, first_rendered_at)
VALUES (%(month)s, %(merchant)s, %(document)s, %(html)s, %(etag)s, %(rendered_at)s,
    %(render_reason)s, %(rendered_at)s)
ON CONFLICT (month, merchant_id) DO UPDATE
    SET document = EXCLUDED.document, html = EXCLUDED.html, etag = EXCLUDED.etag,
        rendered_at = EXCLUDED.rendered_at, render_reason = EXCLUDED.render_reason

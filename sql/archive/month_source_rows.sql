-- What ingestion has committed into the UTC month of raw.<table>: the row sum of the
-- touched hours that overlap it (hours are cut in the reporting zone; one that straddles
-- the month boundary counts for both months, which can only re-archive a month once more).
SELECT coalesce(sum(rows_ingested), 0)::bigint
FROM ingest.touched_hours
WHERE raw_table = %(qualified_table)s
    AND hour_start > %(month_start)s::timestamptz - interval '1 hour'
    AND hour_start < %(month_end)s

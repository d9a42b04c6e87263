-- Helpers of the rollup templates and runner (sql/rollups/, analytics_platform/rollups/).

-- Percentiles of an array that is already sorted ascending, exactly as percentile_cont
-- computes them: position p * (n - 1) (0-based), linear interpolation between the two
-- values around it (lo + (pos - floor(pos)) * (hi - lo), in double precision).
-- The rollup templates collect each group's values into arrays in sorted order (see
-- sql/rollups/transactions.sql), so a percentile is two lookups instead of a sort per
-- group and percentile. A single-expression SQL function: the planner inlines it, so it
-- costs what the expression costs. NULL for an empty array.
CREATE OR REPLACE FUNCTION marts.percentile_cont_sorted(sorted integer[], fraction double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sorted[floor(fraction * (cardinality(sorted) - 1))::integer + 1]::double precision
        + (fraction * (cardinality(sorted) - 1) - floor(fraction * (cardinality(sorted) - 1)))
        * (sorted[ceil(fraction * (cardinality(sorted) - 1))::integer + 1]
            - sorted[floor(fraction * (cardinality(sorted) - 1))::integer + 1])
$$;

-- Summarizes the new block ranges of the BRIN indexes on occurred_at (009) of the raw
-- table's (e.g. 'raw.transactions') partitions that overlap [p_from, p_to); returns how
-- many ranges it summarized.
-- PostgreSQL summarizes a BRIN range only when VACUUM gets to it, and an unsummarized
-- range matches every query: until then, each hour of a range run over a freshly
-- ingested day would read the whole day. The rollup runner calls this in a short
-- transaction of its own before each run (it locks the partition against VACUUM, not
-- against inserts), so a range run reads each bucket's rows once. Hypertables have a
-- B-tree on occurred_at instead and no BRIN: nothing to do there.
CREATE OR REPLACE FUNCTION marts.summarize_raw_brin(p_table regclass, p_from timestamptz, p_to timestamptz)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    brin_index regclass;
    summarized bigint := 0;
BEGIN
    FOR brin_index IN
        SELECT i.indexrelid::regclass
        FROM pg_inherits h
        JOIN pg_class part ON part.oid = h.inhrelid
        JOIN pg_index i ON i.indrelid = part.oid
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_am am ON am.oid = ic.relam
        CROSS JOIN LATERAL (SELECT pg_get_expr(part.relpartbound, part.oid) AS bound) AS b
        WHERE h.inhparent = p_table
            AND am.amname = 'brin'
            -- Bounds look like: FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-01-02 00:00:00+00')
            AND substring(b.bound FROM 'FROM \(''([^'']+)''\)')::timestamptz < p_to
            AND substring(b.bound FROM 'TO \(''([^'']+)''\)')::timestamptz > p_from
    LOOP
        summarized := summarized + brin_summarize_new_values(brin_index);
    END LOOP;
    RETURN summarized;
END
$$;

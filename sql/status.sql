-- name: last_run
SELECT run_id, max(finished_at) AS finished_at, count(*) AS sources, string_agg(DISTINCT status, ',') AS statuses
FROM run_log
GROUP BY run_id
ORDER BY max(finished_at) DESC, run_id DESC
LIMIT 1;

-- name: tables
SELECT 'dim_commitment' AS table_name, (SELECT count(*) FROM dim_commitment) AS rows
UNION ALL SELECT 'dim_indicator', (SELECT count(*) FROM dim_indicator)
UNION ALL SELECT 'dim_country', (SELECT count(*) FROM dim_country)
UNION ALL SELECT 'bridge_commitment_indicator', (SELECT count(*) FROM bridge_commitment_indicator)
UNION ALL SELECT 'fact_observation', (SELECT count(*) FROM fact_observation)
UNION ALL SELECT 'quarantine', (SELECT count(*) FROM quarantine)
UNION ALL SELECT 'run_log', (SELECT count(*) FROM run_log)
UNION ALL SELECT 'mart_commitment_progress', (SELECT count(*) FROM mart_commitment_progress);

-- name: freshness
-- every source that has run, with what it holds: rows, indicators, the span of periods covered,
-- the publisher's newest update and when the figures were retrieved
WITH held AS (
    SELECT source_id, count(*) AS rows, count(DISTINCT indicator_id) AS indicators,
           min(period_start) AS covers_from, max(period_end) AS covers_to,
           string_agg(DISTINCT period_type, ',' ORDER BY period_type) AS period_types,
           max(source_updated) AS source_updated, max(retrieved_at) AS retrieved_at
    FROM fact_observation GROUP BY source_id
),
runs AS (
    SELECT source_id, arg_max(status, finished_at) AS last_load_status, max(finished_at) AS last_load_at,
           arg_max(rows_quarantined, finished_at) FILTER (WHERE status IN ('loaded', 'unchanged')) AS quarantined_last_load
    FROM run_log GROUP BY source_id
)
SELECT
    source_id, coalesce(h.rows, 0) AS rows, h.indicators, h.covers_from, h.covers_to, h.period_types,
    h.source_updated, h.retrieved_at,
    date_diff('day', h.retrieved_at, current_timestamp::TIMESTAMP) AS days_since_retrieval,
    r.last_load_status, r.last_load_at, r.quarantined_last_load
FROM runs r
FULL JOIN held h USING (source_id)
ORDER BY source_id;

-- name: recent_runs
SELECT run_id, source_id, status, rows_in, rows_loaded, rows_quarantined,
       date_diff('millisecond', started_at, finished_at) / 1000.0 AS seconds, message
FROM run_log
ORDER BY finished_at DESC, run_id DESC, source_id
LIMIT 10;

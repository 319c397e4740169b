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
SELECT
    f.source_id,
    count(*) AS rows,
    min(f.period) AS first_period,
    max(f.period) AS last_period,
    max(f.source_updated) AS source_updated,
    max(f.retrieved_at) AS retrieved_at,
    any_value(r.status) AS last_load_status,
    any_value(r.finished_at) AS last_load_at
FROM fact_observation f
LEFT JOIN (
    SELECT source_id, arg_max(status, finished_at) AS status, max(finished_at) AS finished_at
    FROM run_log GROUP BY source_id
) r USING (source_id)
GROUP BY f.source_id
ORDER BY f.source_id;

-- name: recent_runs
SELECT run_id, source_id, status, rows_in, rows_loaded, rows_quarantined,
       date_diff('millisecond', started_at, finished_at) / 1000.0 AS seconds, message
FROM run_log
ORDER BY finished_at DESC, run_id DESC, source_id
LIMIT 10;

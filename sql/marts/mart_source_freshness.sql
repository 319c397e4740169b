-- One row per source: what it holds (rows, indicators, periods covered), the publisher's newest
-- update and when its figures were retrieved, the last load's status and what it quarantined.
CREATE OR REPLACE TABLE mart_source_freshness AS
WITH held AS (
    SELECT source_id, any_value(publisher) AS publisher, any_value(licence) AS licence,
           count(*) AS rows, count(DISTINCT indicator_id) AS indicators,
           min(period_start) AS covers_from, max(period_end) AS covers_to,
           max(source_updated) AS source_updated, max(retrieved_at) AS retrieved_at
    FROM fact_observation GROUP BY 1
),
runs AS (
    SELECT source_id, arg_max(status, finished_at) AS last_load_status, max(finished_at) AS last_load_at
    FROM run_log GROUP BY 1
),
held_back AS (
    SELECT source_id, count(DISTINCT (batch_id, source_file, source_row)) AS rows_in_quarantine
    FROM quarantine WHERE released_in_run IS NULL AND target_table = 'fact_observation' GROUP BY 1
)
SELECT h.source_id, h.publisher, h.licence, h.rows, h.indicators, h.covers_from, h.covers_to,
       h.source_updated, h.retrieved_at,
       date_diff('day', h.retrieved_at, r.last_load_at) AS days_retrieval_to_load,
       r.last_load_status, r.last_load_at, coalesce(q.rows_in_quarantine, 0) AS rows_in_quarantine
FROM held h
LEFT JOIN runs r USING (source_id)
LEFT JOIN held_back q USING (source_id);

-- title: Quarantined rows by source, rule and column
-- description: What the row rules held back: per source, rule and column, how many rows, how many
--   are still held and how many passed later (released), the inputs' retrieval dates, and one
--   example value and reason. Every quarantined row stays in `quarantine`, released or not.
-- param: source VARCHAR default null | one source connector (e.g. mer_compiled); null = every source
-- param: include_released BOOLEAN default true | false = only rows still held
-- param: since DATE default null | only rows from inputs retrieved on or after this day (YYYY-MM-DD); null = all
-- example: source=mer_compiled include_released=false
--
SELECT
    source_id,
    rule_id,
    column_name,
    count(*) AS rows,
    count(*) FILTER (WHERE released_in_run IS NULL) AS still_held,
    count(*) FILTER (WHERE released_in_run IS NOT NULL) AS released,
    min(retrieved_at) AS first_retrieved,
    max(retrieved_at) AS last_retrieved,
    arg_min(bad_value, source_file || ':' || lpad(CAST(source_row AS VARCHAR), 12, '0')) AS example_value,
    arg_min(reason, source_file || ':' || lpad(CAST(source_row AS VARCHAR), 12, '0')) AS example_reason
FROM quarantine
WHERE ($source IS NULL OR source_id = $source)
  AND ($include_released OR released_in_run IS NULL)
  AND ($since IS NULL OR retrieved_at >= $since)
GROUP BY ALL
ORDER BY source_id, rows DESC, rule_id, column_name

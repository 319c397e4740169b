-- Rebuild a fact_observation batch from quarantined rows still held (their `record` JSON), with
-- the plausible range taken from the catalog as it is now, so a fixed catalog or suite can let
-- them through. One row per quarantined input row, whatever number of rules it broke.
WITH held AS (
    SELECT DISTINCT ON (q.batch_id, q.source_file, q.source_row, q.record_key) q.batch_id, q.source_file, q.source_row, q.record
    FROM quarantine AS q
    WHERE q.released_in_run IS NULL
      AND q.target_table = 'fact_observation'
      AND q.source_id = $source
      AND ($rule IS NULL OR EXISTS (
            SELECT 1 FROM quarantine AS r
            WHERE r.rule_id = $rule AND r.batch_id = q.batch_id AND r.source_file = q.source_file
              AND r.source_row = q.source_row AND r.record_key = q.record_key))
    ORDER BY q.batch_id, q.source_file, q.source_row, q.record_key
)
SELECT
    row_number() OVER (ORDER BY h.batch_id, h.source_file, h.source_row) AS row_id,
    json_extract_string(h.record, '$.indicator_id') AS indicator_id,
    json_extract_string(h.record, '$.country_iso3') AS country_iso3,
    json_extract_string(h.record, '$.period') AS period,
    TRY_CAST(json_extract_string(h.record, '$.year') AS INTEGER) AS year,
    TRY_CAST(json_extract_string(h.record, '$.value') AS DOUBLE) AS value,
    json_extract_string(h.record, '$.value_text') AS value_text,
    json_extract_string(h.record, '$.source_id') AS source_id,
    h.batch_id,
    TRY_CAST(json_extract_string(h.record, '$.retrieved_at') AS TIMESTAMP) AS retrieved_at,
    TRY_CAST(json_extract_string(h.record, '$.source_updated') AS DATE) AS source_updated,
    h.source_file,
    h.source_row,
    i.valid_min,
    i.valid_max
FROM held AS h
LEFT JOIN catalog_indicators AS i ON i.indicator_id = json_extract_string(h.record, '$.indicator_id')

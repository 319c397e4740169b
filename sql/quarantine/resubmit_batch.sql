-- Rebuild a fact_observation batch from quarantined rows still held (their `record` JSON), with
-- the plausible range taken from the catalog as it is now, so a fixed catalog or suite can let
-- them through. One row per quarantined input row, whatever number of rules it broke.
-- {record_columns} is filled in from the fact_observation contract (json_transform structure), so
-- every column the row was staged with comes back with its type.
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
),
rebuilt AS (
    SELECT h.batch_id AS held_batch, h.source_file AS held_file, h.source_row AS held_row,
           json_transform(h.record, '{record_columns}') AS r
    FROM held AS h
)
SELECT
    row_number() OVER (ORDER BY b.held_batch, b.held_file, b.held_row) AS row_id,
    unnest(b.r),
    i.valid_min,
    i.valid_max
FROM rebuilt AS b
LEFT JOIN catalog_indicators AS i ON i.indicator_id = b.r.indicator_id

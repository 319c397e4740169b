-- Shape the failing rows of one batch (failed: row_id, rule_id, expectation_type, column_name,
-- bad_value, reason, record) into quarantine rows that name their batch, file and row.
-- {record_key} is filled in with the target table's primary key as text.
SELECT
    CAST($batch_id AS VARCHAR) AS batch_id,
    CAST($source_id AS VARCHAR) AS source_id,
    CAST($target_table AS VARCHAR) AS target_table,
    b.source_file,
    b.source_row,
    coalesce({record_key}, '') AS record_key,
    f.rule_id,
    f.expectation_type,
    f.column_name,
    f.bad_value,
    f.reason,
    f.record,
    CAST($retrieved_at AS TIMESTAMP) AS retrieved_at
FROM failed AS f
JOIN failing AS b USING (row_id)  -- the failing rows in full, kept by the validator
ORDER BY b.source_file, b.source_row, f.rule_id

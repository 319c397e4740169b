-- Quarantined rows one by one (ciw quarantine --rows).
SELECT source_id, rule_id, source_file, source_row, column_name, bad_value, reason, batch_id, released_in_run
FROM quarantine
WHERE ($source IS NULL OR source_id = $source)
  AND ($rule IS NULL OR rule_id = $rule)
ORDER BY source_id, source_file, source_row, rule_id

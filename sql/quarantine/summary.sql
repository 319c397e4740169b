-- Quarantined rows by source and rule, with one example reason (ciw quarantine).
SELECT
    source_id,
    target_table,
    rule_id,
    count(*) AS rows,
    count(*) FILTER (WHERE released_in_run IS NULL) AS still_held,
    min(retrieved_at) AS first_seen,
    max(retrieved_at) AS last_seen,
    any_value(reason ORDER BY source_file, source_row) AS example
FROM quarantine
WHERE ($source IS NULL OR source_id = $source)
  AND ($rule IS NULL OR rule_id = $rule)
GROUP BY ALL
ORDER BY source_id, target_table, rows DESC, rule_id

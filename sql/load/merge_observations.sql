-- Apply the classified batch: new keys and changed values replace; unchanged rows are left alone
-- (they keep the batch and retrieval time of the load that first brought them).
INSERT OR REPLACE INTO fact_observation BY NAME
SELECT * EXCLUDE (change_kind, old_value, old_year, old_source_id, old_batch_id, old_retrieved_at, change_share)
FROM _merge
WHERE change_kind IN ('inserted', 'changed');

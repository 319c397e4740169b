-- Apply a batch classified by classify_batch.sql: its new keys and revised values, the revised
-- keys already deleted (delete_revised_observations.sql), go in as they are.
INSERT INTO fact_observation BY NAME
SELECT * EXCLUDE (old_value, old_year, old_source_id, old_batch_id, old_retrieved_at, change_share, revised)
FROM _changed;

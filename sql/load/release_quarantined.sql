-- Rows that were quarantined once and have now passed validation (same batch, file and row) are
-- marked released in this run. Nothing is deleted: the quarantine row stays, for the record.
UPDATE quarantine AS q
SET released_in_run = $run_id
WHERE q.released_in_run IS NULL
  AND q.target_table = 'fact_observation'
  AND EXISTS (
      SELECT 1 FROM _incoming AS g
      WHERE g.batch_id = q.batch_id AND g.source_file = q.source_file AND g.source_row = q.source_row
        AND concat_ws('|', g.indicator_id, g.country_iso3, g.period, g.sex, g.breakdown) = q.record_key
  );

-- Before a revised value replaces the published one, keep the old vintage with the time it was
-- valid; flag revisions larger than $review_share of the old value (or of a zero) for review.
INSERT OR IGNORE INTO fact_observation_history BY NAME
SELECT
    indicator_id,
    country_iso3,
    period,
    sex,
    breakdown,
    old_year AS year,
    old_value AS value,
    old_source_id AS source_id,
    old_batch_id AS batch_id,
    old_retrieved_at AS valid_from,
    retrieved_at AS valid_to,
    batch_id AS replaced_by_batch,
    value AS new_value,
    change_share,
    coalesce(change_share > $review_share, true) AS flagged_for_review
FROM _changed
WHERE revised;


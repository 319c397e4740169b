-- dim_commitment rows: the extracted commitments (`extracted`) with their measurability from the
-- catalog's links (`links`): a commitment whose only link row has no indicator is not measurable,
-- and that row's rationale says why.
WITH unmeasured AS (
    SELECT commitment_id, any_value(rationale) AS note
    FROM links
    WHERE indicator_id IS NULL
    GROUP BY 1
)
SELECT
    e.*,
    CASE WHEN u.commitment_id IS NULL THEN 'measured' ELSE 'not_measurable' END AS measurability,
    u.note AS measurability_note
FROM extracted AS e
LEFT JOIN unmeasured AS u USING (commitment_id)
ORDER BY e.commitment_id

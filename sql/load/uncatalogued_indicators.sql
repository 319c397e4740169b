-- Series a source delivered that the curated catalog does not know: keep them, under the name the
-- source gives, flagged uncatalogued, so no data is dropped for want of a catalog entry.
INSERT INTO dim_indicator BY NAME
SELECT
    indicator_id,
    any_value(indicator_name ORDER BY indicator_name) AS name,
    any_value(source_id) AS source_id,
    false AS is_catalogued,
    'Not in the curated catalog (data/catalog/indicators.csv) yet: loaded under the name the source gives.' AS notes
FROM _seen
WHERE indicator_id NOT IN (SELECT indicator_id FROM dim_indicator)
GROUP BY indicator_id;

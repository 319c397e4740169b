-- One row per indicator and address it was loaded from: source, publisher, licence, the rows,
-- countries and periods held, and when the input was retrieved and last updated by the publisher.
-- Reads `observation`, so derived indicators show the series they were computed from. Built at
-- publish so `ciw query source_provenance` answers from a small table at any warehouse size.
CREATE OR REPLACE TABLE mart_source_provenance AS
SELECT
    o.indicator_id,
    i.name AS indicator_name,
    o.source_id,
    o.publisher,
    o.licence,
    o.source_url,
    count(*) AS rows,
    count(DISTINCT o.country_iso3) AS countries,
    min(o.period) AS first_period,
    max(o.period) AS last_period,
    max(o.retrieved_at) AS retrieved_at,
    max(o.source_updated) AS source_updated
FROM observation AS o
JOIN dim_indicator AS i USING (indicator_id)
GROUP BY ALL;

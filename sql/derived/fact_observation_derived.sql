-- Indicators computed from published series, never stored by hand (catalog source_id 'derived').
-- FDI and remittances as % of GDP: the World Bank's current-US$ flows over GDP in current US$, for
-- the same economy and year. Each row names its inputs in `citation` and carries the newest
-- retrieval of the two, so it traces back to the published figures it was computed from.
-- (Youth unemployment, total, is NOT derivable from the male and female rates: that needs the
-- youth labour force by sex as weights, which the catalog does not hold. See the catalog notes.)
CREATE OR REPLACE VIEW fact_observation_derived AS
WITH spec(indicator_id, numerator_id, denominator_id, scale) AS (
    VALUES ('CIW.FDI.GDP_PCT', 'BX.KLT.DINV.CD.WD', 'NY.GDP.MKTP.CD', 100.0),
           ('CIW.REMIT.GDP_PCT', 'BX.TRF.PWKR.CD.DT', 'NY.GDP.MKTP.CD', 100.0)
)
SELECT
    s.indicator_id,
    n.country_iso3,
    n.period,
    n.period_type,
    n.period_start,
    n.period_end,
    n.year,
    n.sex,
    n.breakdown,
    s.scale * n.value / d.value AS value,
    '%' AS unit,
    CAST(NULL AS VARCHAR) AS qualifier,
    'computed in SQL (sql/derived/fact_observation_derived.sql)' AS note,
    'derived' AS source_id,
    'ciw, computed from ' || n.publisher AS publisher,
    n.licence,
    n.source_url,
    s.numerator_id || ' / ' || s.denominator_id || ' x ' || CAST(s.scale AS INTEGER) AS citation,
    n.batch_id || '+' || d.batch_id AS batch_id,
    greatest(n.retrieved_at, d.retrieved_at) AS retrieved_at,
    least(n.source_updated, d.source_updated) AS source_updated,
    n.source_file || ' / ' || d.source_file AS source_file,
    n.source_row
FROM spec AS s
JOIN fact_observation AS n ON n.indicator_id = s.numerator_id
JOIN fact_observation AS d
  ON d.indicator_id = s.denominator_id AND d.country_iso3 = n.country_iso3 AND d.period = n.period
 AND d.sex = n.sex AND d.breakdown = n.breakdown
WHERE d.value <> 0;

-- Every observation, published or derived: what marts and analysts read.
CREATE OR REPLACE VIEW observation AS
SELECT * FROM fact_observation
UNION ALL BY NAME
SELECT * FROM fact_observation_derived;

-- mart_governance: each WGI estimate shown with its standard error.
--
-- The WGI are estimates of an unobserved quantity: Kaufmann, Kraay and Mastruzzi publish each
-- estimate with a standard error and read it through its 90% interval (estimate ± 1.645 x SE).
-- Standard errors here are about 0.11-0.46, larger than most year-to-year moves, so a change is
-- only read as a change when it exceeds the two years' combined uncertainty. That test,
-- 1.645 x sqrt(SE_t^2 + SE_base^2), treats the two years' errors as independent; WGI errors are
-- positively correlated over time (the same sources recur), so the test is conservative.
--
-- Inputs: the `observation` view, annual rows of the total breakdown, holding GOV_WGI_<XX>.EST and
-- <XX>.STD.ERR (the legacy source-3 API code of the standard error; a live run that the API answers
-- "not found" for it leaves std_error null, read as 'no standard error').
-- Base year 2017 = Settings.base_year (the conference year). Change is measured forward only: years
-- before the base year show their estimate and interval, with no change columns.
CREATE OR REPLACE TABLE mart_governance AS
WITH dims (dimension_code, dimension, est_id, se_id) AS (
    VALUES
        ('VA', 'Voice and Accountability', 'GOV_WGI_VA.EST', 'VA.STD.ERR'),
        ('PV', 'Political Stability and Absence of Violence/Terrorism', 'GOV_WGI_PV.EST', 'PV.STD.ERR'),
        ('GE', 'Government Effectiveness', 'GOV_WGI_GE.EST', 'GE.STD.ERR'),
        ('RQ', 'Regulatory Quality', 'GOV_WGI_RQ.EST', 'RQ.STD.ERR'),
        ('RL', 'Rule of Law', 'GOV_WGI_RL.EST', 'RL.STD.ERR'),
        ('CC', 'Control of Corruption', 'GOV_WGI_CC.EST', 'CC.STD.ERR')
),
-- NOT MATERIALIZED: est and se each read only their dimension's rows from the table; a materialised
-- annual (DuckDB's default for a CTE used twice) held every annual row of every indicator (0.8 GB at
-- 10M observations)
annual AS NOT MATERIALIZED (
    SELECT indicator_id, country_iso3, period, year, value, source_id
    FROM observation
    WHERE period_type = 'year' AND sex = 'total' AND breakdown = 'total'
),
est AS (
    SELECT d.dimension_code, d.dimension, a.country_iso3, a.period, a.year, a.value AS estimate, a.source_id
    FROM annual AS a JOIN dims AS d ON a.indicator_id = d.est_id
),
se AS (
    SELECT d.dimension_code, a.country_iso3, a.period, a.value AS std_error
    FROM annual AS a JOIN dims AS d ON a.indicator_id = d.se_id
),
joined AS (
    SELECT est.*, se.std_error
    FROM est LEFT JOIN se USING (dimension_code, country_iso3, period)
),
base AS (
    SELECT dimension_code, country_iso3, estimate AS base_estimate, std_error AS base_std_error
    FROM joined WHERE year = 2017
),
measured AS (
    SELECT j.*, b.base_estimate, b.base_std_error,
           CASE WHEN j.year > 2017 THEN j.estimate - b.base_estimate END AS change_since_base,
           CASE WHEN j.year > 2017 THEN 1.645 * sqrt(j.std_error ^ 2 + b.base_std_error ^ 2) END AS change_margin90
    FROM joined AS j LEFT JOIN base AS b USING (dimension_code, country_iso3)
)
SELECT
    m.dimension_code,
    m.dimension,
    m.country_iso3,
    c.country_name,
    m.period,
    m.year,
    m.estimate,
    m.std_error,
    m.estimate - 1.645 * m.std_error AS ci90_low,
    m.estimate + 1.645 * m.std_error AS ci90_high,
    -- what a table or chart label shows, e.g. '-1.08 ± 0.17'
    CASE WHEN m.std_error IS NULL THEN printf('%.2f', m.estimate)
         ELSE printf('%.2f ± %.2f', m.estimate, m.std_error) END AS estimate_display,
    m.base_estimate,
    m.base_std_error,
    m.change_since_base,
    m.change_margin90,
    CASE
        WHEN m.year = 2017 THEN 'base year'
        WHEN m.year < 2017 THEN 'before base year'
        WHEN m.base_estimate IS NULL THEN 'no base-year estimate'
        WHEN m.std_error IS NULL OR m.base_std_error IS NULL THEN 'no standard error'
        WHEN abs(m.change_since_base) <= m.change_margin90 THEN 'within uncertainty'
        WHEN m.change_since_base > 0 THEN 'better beyond uncertainty'  -- higher WGI = better governance
        ELSE 'worse beyond uncertainty'
    END AS change_reading,
    m.source_id
FROM measured AS m
LEFT JOIN dim_country AS c USING (country_iso3);

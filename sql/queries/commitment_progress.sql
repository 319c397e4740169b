-- title: Commitment progress by theme and country
-- description: One row per commitment x linked indicator x country from mart_commitment_progress:
--   the baseline (last annual value at or before 2017), the latest value and its period, the change
--   and the progress status with its reason. Filter by theme, country and status; all by default.
-- param: theme VARCHAR default null | commitment theme (e.g. violence_youth, fiscal, energy_siepac); null = every theme
-- param: country VARCHAR[] default null | countries (ISO3, comma-separated, e.g. GTM,HND,SLV); null = every country
-- param: status VARCHAR default null | one status (e.g. on_track, deterioration, not_available); null = every status
-- example: theme=violence_youth country=GTM,HND,SLV,MEX
--
-- Reads only mart_commitment_progress (a view), so its status method is the mart's own.
SELECT
    theme,
    commitment_id,
    commitment_text,
    indicator_id,
    indicator_name,
    unit,
    relation,
    country_iso3,
    country_name,
    group_name,
    baseline_year,
    baseline_value,
    latest_period,
    latest_value,
    change,
    change_pct,
    status,
    status_reason,
    source_id
FROM mart_commitment_progress
WHERE ($theme IS NULL OR theme = $theme)
  AND ($country IS NULL OR list_contains($country, country_iso3))
  AND ($status IS NULL OR status = $status)
ORDER BY theme, commitment_id, indicator_id, country_iso3

"""The curated catalog is consistent with the contracts, the commitments and itself."""
from __future__ import annotations

from flows import commitments
from flows.catalog import read_catalog
from flows.config import settings
from flows.contracts import contracts


def test_every_link_names_a_commitment_by_a_phrase_it_contains():
    s = settings()
    catalog = read_catalog(s)
    extracted = commitments.extract_commitments(next(s.documents_dir.glob("dhs-2017-*.md")))
    text = dict(zip(extracted.column("commitment_id").to_pylist(), extracted.column("text").to_pylist()))
    for link in catalog.links.to_pylist():
        assert link["commitment_id"] in text, link
        assert link["key_phrase"].lower() in text[link["commitment_id"]].lower(), link


def test_every_commitment_is_linked_or_explained():
    s = settings()
    catalog = read_catalog(s)
    extracted = commitments.extract_commitments(next(s.documents_dir.glob("dhs-2017-*.md")))
    links = catalog.links.to_pylist()
    for cid in extracted.column("commitment_id").to_pylist():
        mine = [link for link in links if link["commitment_id"] == cid]
        assert mine, f"{cid} has no row in data/catalog/links/"
        unmeasured = [link for link in mine if link["indicator_id"] is None]
        if unmeasured:
            # not measurable directly: at most context indicators beside the explanation
            assert len(unmeasured) == 1 and len(unmeasured[0]["rationale"]) > 30, cid
            assert all(link["relation"] == "context" for link in mine if link["indicator_id"]), cid


def test_linked_indicators_are_catalogued_with_a_direction():
    catalog = read_catalog(settings())
    indicators = {r["indicator_id"]: r for r in catalog.indicators.to_pylist()}
    for link in catalog.links.to_pylist():
        if link["indicator_id"]:
            assert link["indicator_id"] in indicators, link
            assert indicators[link["indicator_id"]]["direction"] in {"higher", "lower", "neutral"}, link
            assert link["relation"] in {"direct", "proxy", "context"}


def test_every_table_and_column_is_described():
    for c in contracts().values():
        assert c.description.strip(), c.name
        assert all(col.description.strip() for col in c.columns), c.name
        assert set(c.primary_key) <= set(c.column_names), c.name

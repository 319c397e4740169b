"""The commitments extractor on the bundled 2017 document, on a differently laid out statement,
and under the edits that must not change commitment ids."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from flows.commitments import (
    SCHEMA,
    extract_commitments,
    load_rules,
    read_document,
    split_sentences,
)
from flows.config import settings

DOC = settings().documents_dir / "dhs-2017-06-16-key-deliverables.md"
RULES = settings().catalog_dir / "extraction_rules.yaml"
FIXTURE = Path(__file__).parent / "fixtures" / "documents" / "regional-dialogue-joint-statement.md"

NT = "Northern Triangle governments"
US = "United States"
INTRO = "Introduction"
S1 = "Promoting Investment, Economic Growth, and Job Creation"
S2 = "Enhancing Regional Security"
S3 = "Continued Engagement"

# key phrase -> (section, action, theme, actors), in document order.
EXPECTED_2017 = [
    ("reaffirmed their support for the Plan of the Alliance", INTRO, "reaffirmed", "assistance", ["Conference participants"]),
    ("improve the delivery of U.S. foreign assistance", INTRO, "committed", "assistance", [US]),
    ("eliminating red tape", S1, "committed", "business_climate", [NT]),
    ("raise revenues efficiently", S1, "agreed", "fiscal", [NT]),
    ("reaffirmed the importance of trade", S1, "reaffirmed", "trade_customs", [US, "Mexico", NT]),
    ("streamline import and export systems", S1, "committed", "trade_customs", [NT]),
    ("commercial traffic at border crossings", S1, "agreed", "trade_customs", [NT]),
    ("confirmed financing for upgrades", S1, "confirmed", "energy_siepac", ["Participating governments"]),
    ("Ministerial meeting by April 2018", S1, "announced", "energy_siepac", ["IDB"]),
    ("announced technical assistance", S1, "announced", "assistance", [US]),
    ("Americas Business Dialogue to establish a working group", S1, "welcomed", "business_climate", [US, "Americas Business Dialogue"]),
    ("support regional governments in combatting organized crime", S2, "agreed", "security_cooperation", [US]),
    ("improve information sharing", S2, "agreed", "security_cooperation", [NT, US]),
    ("share biometric data", S2, "will", "security_cooperation", [NT, US]),
    ("training programs and equipment delivery", S2, "agreed", "security_cooperation", ["Regional governments"]),
    ("migration observatory", S2, "committed", "migration", [NT]),
    ("early warning protocols", S2, "committed", "security_cooperation", [NT]),
    ("Transnational Crime Roundtable", S2, "will", "security_cooperation", [US, NT]),
    ("both maritime and terrestrial", S2, "agreed", "border_security", ["Regional governments"]),
    ("key ports of entry", S2, "agreed", "border_security", [NT]),
    ("comprehensive violence reduction", S2, "agreed", "violence_youth", [US, NT]),
    ("existing mechanisms to review and follow up", S3, "agreed", "follow_up", [US, "Mexico", NT]),
]

THEMES = [
    "business_climate", "fiscal", "trade_customs", "energy_siepac", "security_cooperation",
    "border_security", "violence_youth", "migration", "follow_up", "assistance",
]


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return extract_commitments(DOC).to_pylist()


def _one(rows: list[dict], phrase: str) -> dict:
    hits = [r for r in rows if phrase in r["text"]]
    assert len(hits) == 1, f"{phrase!r} matched {len(hits)} commitments"
    return hits[0]


def _ids(path: Path) -> dict[str, str]:
    return {r["text"]: r["commitment_id"] for r in extract_commitments(path).to_pylist()}


# --- the bundled document -------------------------------------------------------------------------

def test_document_is_the_capture_with_provenance() -> None:
    doc = read_document(DOC)
    assert doc.meta["document_id"] == "dhs-2017-06-16-key-deliverables"
    assert doc.meta["published"] == dt.date(2017, 6, 16)
    assert doc.meta["page_last_updated"] == dt.date(2021, 2, 5)
    assert doc.meta["publisher"] == "U.S. Department of Homeland Security"
    assert doc.meta["licence"] == "Public domain (work of the U.S. federal government)"
    assert doc.meta["captured_from"] == "../shared/seeds/000_3cdf6637f3757408.txt"
    assert hashlib.sha256(doc.text.encode("utf-8")).hexdigest() == doc.meta["capture_sha256"]
    assert doc.text.startswith("U.S. flag\n") and doc.text.endswith("not helpful because the content")


def test_schema_is_exact() -> None:
    table = extract_commitments(DOC)
    assert table.schema.equals(SCHEMA)
    assert table.schema.names == [
        "commitment_id", "document_id", "section", "paragraph_index", "sentence_index",
        "sentence_in_paragraph", "actors", "action", "theme", "text", "document_title",
        "document_date", "source_url",
    ]
    assert table.schema.field("actors").type == pa.list_(pa.string())
    assert table.schema.field("paragraph_index").type == pa.int32()
    assert table.schema.field("document_date").type == pa.date32()


@pytest.mark.parametrize(("phrase", "section", "action", "theme", "actors"), EXPECTED_2017, ids=[e[0] for e in EXPECTED_2017])
def test_each_commitment_of_2017(rows: list[dict], phrase: str, section: str, action: str, theme: str, actors: list[str]) -> None:
    row = _one(rows, phrase)
    assert (row["section"], row["action"], row["theme"], row["actors"]) == (section, action, theme, actors)


def test_exactly_the_expected_commitments_in_document_order(rows: list[dict]) -> None:
    assert len(rows) == len(EXPECTED_2017) == 22
    assert [phrase in r["text"] for r, (phrase, *_) in zip(rows, EXPECTED_2017)] == [True] * 22
    assert [r["sentence_index"] for r in rows] == sorted(r["sentence_index"] for r in rows)


def test_positions(rows: list[dict]) -> None:
    red_tape = _one(rows, "eliminating red tape")
    # Four introduction paragraphs (14 sentences) precede the first heading.
    assert (red_tape["paragraph_index"], red_tape["sentence_index"], red_tape["sentence_in_paragraph"]) == (5, 15, 1)
    border = _one(rows, "commercial traffic at border crossings")
    assert (border["paragraph_index"], border["sentence_in_paragraph"]) == (7, 3)
    last = _one(rows, "existing mechanisms")
    assert (last["paragraph_index"], last["sentence_index"]) == (16, 39)


def test_document_columns(rows: list[dict]) -> None:
    meta = read_document(DOC).meta
    for r in rows:
        assert r["document_id"] == "dhs-2017-06-16-key-deliverables"
        assert r["document_title"] == meta["title"]
        assert r["document_date"] == dt.date(2017, 6, 16)
        assert r["source_url"] == meta["source_url"]
        assert r["theme"] in THEMES
        assert r["actors"] and len(r["actors"]) == len(set(r["actors"]))
        assert r["text"] == " ".join(r["text"].split())  # whitespace (incl. no-break spaces) collapsed


def test_sentences_are_verbatim_and_not_split_on_abbreviations(rows: list[dict]) -> None:
    body = " ".join(read_document(DOC).text.split())
    for r in rows:
        assert r["text"] in body
    assert _one(rows, "foreign assistance")["text"] == (
        "The United States is committed to continue to improve the delivery of U.S. foreign assistance to the region."
    )
    roundtable = _one(rows, "Roundtable")["text"]
    assert roundtable.startswith("The United States will continue") and roundtable.endswith("Transnational Crime Roundtable.")


def test_page_furniture_is_never_a_commitment(rows: list[dict]) -> None:
    furniture = [
        "U.S. flag", "official website", ".gov", "HTTPS", "About Us", "Site Links",
        "News Archive", "Archived Content", "In an effort to keep", "Release Date", "Last Updated",
        "Was this page helpful", "not helpful",
    ]
    for r in rows:
        for line in furniture:
            assert line not in r["text"]
        assert not re.match(r"\d+\.", r["text"])
    assert list(dict.fromkeys(r["section"] for r in rows)) == [INTRO, S1, S2, S3]


@pytest.mark.parametrize("phrase", [
    "These changes will help", "These steps will contribute", "has already reduced", "has allocated $1.3 billion",
    "recognizes", "discussed", "identified solutions", "These commitments include",
    "$655 million", "$460 million", "co-hosted",
])
def test_explanations_and_figures_are_not_commitments(rows: list[dict], phrase: str) -> None:
    assert not [r for r in rows if phrase in r["text"]]


def test_ids_are_unique_stable_and_positionless(rows: list[dict]) -> None:
    ids = [r["commitment_id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"dhs-2017-06-16-key-deliverables:[0-9a-f]{10}", i) for i in ids)
    assert ids == [r["commitment_id"] for r in extract_commitments(DOC).to_pylist()]
    # The id is a function of the sentence alone: lowercase, punctuation and spacing do not matter.
    red_tape = _one(rows, "red tape")
    normalised = " ".join(re.sub(r"[^\w\s]", " ", red_tape["text"].lower()).split())
    assert red_tape["commitment_id"].endswith(hashlib.sha256(normalised.encode()).hexdigest()[:10])


def test_ids_survive_edits_elsewhere(tmp_path: Path, rows: list[dict]) -> None:
    raw = DOC.read_text(encoding="utf-8")
    edited = (
        raw.replace("co-hosted the Conference", "jointly hosted the Conference")  # edit a paragraph
        .replace(  # a sentence inserted before a commitment in its paragraph
            "Northern Triangle governments committed to enact reforms",
            "Delegations met in Miami. Northern Triangle governments committed to enact reforms",
        )
        .replace(  # a new committing paragraph inserted before the others
            "\nConference participants discussed",
            "\nHonduras agreed to host the next meeting.\n\nConference participants discussed",
        )
    )
    assert edited.count("Delegations met in Miami") == 1 and edited.count("Honduras agreed to host") == 1
    path = tmp_path / "dhs-2017-06-16-key-deliverables.md"
    path.write_text(edited, encoding="utf-8")
    after = extract_commitments(path).to_pylist()
    assert len(after) == 23
    by_text = {r["text"]: r for r in after}
    for before in rows:
        moved = by_text[before["text"]]
        assert moved["commitment_id"] == before["commitment_id"]
        assert moved["sentence_index"] > before["sentence_index"]
        assert moved["paragraph_index"] == before["paragraph_index"] + 1
    assert by_text["Honduras agreed to host the next meeting."]["actors"] == ["Honduras"]
    assert _one(after, "red tape")["sentence_in_paragraph"] == 2


def test_without_release_line_the_leading_furniture_is_skipped(tmp_path: Path, rows: list[dict]) -> None:
    path = tmp_path / "no-release-line.md"
    path.write_text(DOC.read_text(encoding="utf-8").replace("Release Date: June 16, 2017\n", ""), encoding="utf-8")
    again = extract_commitments(path).to_pylist()
    assert [(r["commitment_id"], r["section"], r["paragraph_index"]) for r in again] == [
        (r["commitment_id"], r["section"], r["paragraph_index"]) for r in rows
    ]


def test_sentence_splitting_respects_abbreviations_and_initials() -> None:
    rules = load_rules()
    text = "U.S. Secretary John F. Kelly met Mr. J. R. Alvarado in Washington. The U.S. Congress agreed. It ended."
    assert split_sentences(text, rules) == [
        "U.S. Secretary John F. Kelly met Mr. J. R. Alvarado in Washington.",
        "The U.S. Congress agreed.",
        "It ended.",
    ]


# --- rules are data -------------------------------------------------------------------------------

def test_rules_file_declares_the_theme_ids() -> None:
    raw = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert list(raw["themes"]) == THEMES
    assert {a["action"] for a in raw["actions"]} == {"committed", "agreed", "reaffirmed", "announced", "confirmed", "will", "welcomed"}


def test_a_different_rules_file_changes_the_result(tmp_path: Path) -> None:
    raw = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    raw["actions"] = [a for a in raw["actions"] if a["action"] != "welcomed"]
    custom = tmp_path / "rules.yaml"
    custom.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    texts = [r["text"] for r in extract_commitments(DOC, rules_path=custom).to_pylist()]
    assert len(texts) == 21 and not any("Americas Business Dialogue" in t for t in texts)


# --- another statement, another layout ------------------------------------------------------------

EXPECTED_FIXTURE = [
    ("participating governments reaffirmed", "Introduction", "reaffirmed", "assistance", ["Participating governments"]),
    ("merge their customs procedures", "Customs and Trade", "agreed", "trade_customs", ["Guatemala", "Honduras"]),
    ("publish import and export requirements", "Customs and Trade", "committed", "trade_customs", ["Guatemala", "Honduras"]),
    ("electricity interconnection", "Energy", "confirmed", "energy_siepac", ["El Salvador", "Guatemala"]),
    ("grid operator", "Energy", "announced", "energy_siepac", ["IDB"]),
    ("migration flows with Mexico", "Security and Migration", "agreed", "migration", ["Honduras", "El Salvador"]),
    ("Joint patrols will target", "Security and Migration", "will", "border_security", ["Honduras", "El Salvador"]),
    ("meet again to review", "Next Steps", "will", "follow_up", ["Participating governments"]),
]


def test_other_statement_with_markdown_headings_and_wrapped_lines() -> None:
    rows = extract_commitments(FIXTURE).to_pylist()
    got = [(r["section"], r["action"], r["theme"], r["actors"]) for r in rows]
    assert got == [e[1:] for e in EXPECTED_FIXTURE]
    for r, (phrase, *_) in zip(rows, EXPECTED_FIXTURE):
        assert phrase in r["text"]
        assert r["document_id"] == "fixture-regional-dialogue" and r["document_date"] == dt.date(2019, 3, 1)
    texts = " ".join(r["text"] for r in rows)
    assert "This reform will cut" not in texts and "Officials noted" not in texts and "Ministers met" not in texts
    assert _one(rows, "publish import")["text"] == "They also committed to publish import and export requirements online."


def test_document_without_front_matter(tmp_path: Path) -> None:
    body = read_document(FIXTURE).text
    path = tmp_path / "Plain Statement.txt"
    path.write_text(body, encoding="utf-8")
    doc = read_document(path)
    assert doc.meta == {"document_id": "plain-statement"} and doc.text == body
    plain = extract_commitments(path).to_pylist()
    with_meta = extract_commitments(FIXTURE).to_pylist()
    assert [r["text"] for r in plain] == [r["text"] for r in with_meta]
    assert [r["commitment_id"].split(":")[1] for r in plain] == [r["commitment_id"].split(":")[1] for r in with_meta]
    assert all(r["commitment_id"].startswith("plain-statement:") for r in plain)
    assert {(r["document_title"], r["document_date"], r["source_url"]) for r in plain} == {("plain-statement", None, None)}
    # Without a known title, the title line is a heading of its own: the intro falls under it.
    assert plain[0]["section"] == "Joint Statement of the Regional Trade and Security Dialogue"

"""Commitments extractor: a conference statement in, one row per committing sentence out.

Everything the extractor knows about language (page furniture, abbreviations, verbs, actors,
themes) is data in data/catalog/extraction_rules.yaml; this module only applies it, so a new
layout or phrasing is a data edit. Ids hash the sentence itself, so they survive re-runs and edits
elsewhere in the document.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from flows.config import settings

SCHEMA = pa.schema([
    pa.field("commitment_id", pa.string()),
    pa.field("document_id", pa.string()),
    pa.field("section", pa.string()),
    pa.field("paragraph_index", pa.int32()),
    pa.field("sentence_index", pa.int32()),
    pa.field("sentence_in_paragraph", pa.int32()),
    pa.field("actors", pa.list_(pa.string())),
    pa.field("action", pa.string()),
    pa.field("theme", pa.string()),
    pa.field("text", pa.string()),
    pa.field("document_title", pa.string()),
    pa.field("document_date", pa.date32()),
    pa.field("source_url", pa.string()),
])
INTRODUCTION = "Introduction"
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_Patterns = tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class Document:
    """A bundled document: provenance from the front matter, and the captured text untouched."""

    meta: dict[str, Any]
    text: str


@dataclass(frozen=True)
class Rules:
    """extraction_rules.yaml, compiled once."""

    body_start: _Patterns
    body_end: _Patterns
    furniture: _Patterns
    preamble: _Patterns
    heading_max_words: int
    sentence_like_ending: re.Pattern[str]
    heading_strip: re.Pattern[str]
    boundary: re.Pattern[str]
    abbreviations: frozenset[str]
    initial: re.Pattern[str]
    actions: tuple[tuple[re.Pattern[str], str], ...]
    actors: tuple[tuple[re.Pattern[str], str], ...]
    co_actors: _Patterns
    pronoun_subjects: _Patterns
    back_reference_subjects: _Patterns
    themes: dict[str, tuple[tuple[re.Pattern[str], float], ...]]


@dataclass(frozen=True)
class Paragraph:
    section: str
    index: int
    text: str


def _compile(patterns: list[str]) -> _Patterns:
    return tuple(re.compile(p) for p in patterns)


def _keyword(phrase: str) -> re.Pattern[str]:
    # Whole words, case-insensitive, a plural ending allowed, a space matching a hyphen too.
    words = r"[\s-]+".join(re.escape(w) for w in re.split(r"[\s-]+", phrase.strip()))
    return re.compile(rf"\b{words}(?:s|es)?\b", re.IGNORECASE)


def load_rules(path: Path | None = None) -> Rules:
    raw = yaml.safe_load((path or settings().catalog_dir / "extraction_rules.yaml").read_text(encoding="utf-8"))
    furniture, headings, sentences = raw["page_furniture"], raw["headings"], raw["sentences"]
    return Rules(
        body_start=_compile(furniture["body_start"]),
        body_end=_compile(furniture["body_end"]),
        furniture=_compile(furniture["lines"]),
        preamble=_compile(furniture.get("preamble", [])),
        heading_max_words=int(headings["max_words"]),
        sentence_like_ending=re.compile(headings["sentence_like_ending"]),
        heading_strip=re.compile(headings.get("strip", r"(?!)")),
        boundary=re.compile(sentences["boundary"]),
        abbreviations=frozenset(sentences["abbreviations"]),
        initial=re.compile(sentences["initial"]),
        actions=tuple((re.compile(a["pattern"]), a["action"]) for a in raw["actions"]),
        actors=tuple((re.compile(a["pattern"]), a["actor"]) for a in raw["actors"]),
        co_actors=_compile(raw.get("co_actors", [])),
        pronoun_subjects=_compile(raw["pronoun_subjects"]),
        back_reference_subjects=_compile(raw["back_reference_subjects"]),
        themes={t: tuple((_keyword(k), float(w)) for k, w in kw.items()) for t, kw in raw["themes"].items()},
    )


def read_document(path: Path) -> Document:
    """Split front matter from text; without front matter the id comes from the file name."""
    raw = path.read_text(encoding="utf-8")
    match = _FRONT_MATTER.match(raw)
    meta: dict[str, Any] = {}
    if match:
        loaded = yaml.safe_load(match.group(1))
        meta = dict(loaded) if isinstance(loaded, dict) else {}
        raw = raw[match.end():]
    meta.setdefault("document_id", re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-"))
    return Document(meta=meta, text=raw)


def _any(patterns: _Patterns, text: str) -> bool:
    return any(p.search(text) for p in patterns)


def body_lines(text: str, rules: Rules) -> list[str]:
    """The lines between the page's header and footer, with furniture lines dropped."""
    lines = text.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if _any(rules.body_start, line.strip())), None)
    if start is None:  # no release line: skip the leading furniture instead
        start = 0
        while start < len(lines) and (
            not lines[start].strip() or _any(rules.furniture + rules.preamble, lines[start].strip())
        ):
            start += 1
    end = next((i for i in range(start, len(lines)) if _any(rules.body_end, lines[i].strip())), len(lines))
    return [line for line in lines[start:end] if not _any(rules.furniture, line.strip())]


def _blocks(lines: list[str]) -> list[list[str]]:
    """Blank-line separated blocks of stripped lines."""
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            blocks[-1].append(line.strip())
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def _is_heading_candidate(block: list[str], rules: Rules) -> bool:
    text = block[0]
    return (
        len(block) == 1
        and len(text.split()) <= rules.heading_max_words
        and not rules.sentence_like_ending.search(text)
    )


def paragraphs(lines: list[str], rules: Rules, title: str | None = None) -> list[Paragraph]:
    """Body paragraphs, each with the heading it falls under.

    A heading is a short one-line block with body text after it (so a trailing short line stays a
    paragraph); a line repeating the document title is the title, not a section.
    """
    def key(text: str) -> str:
        return " ".join(rules.heading_strip.sub("", text).split()).casefold()

    blocks = [b for b in _blocks(lines) if not title or key(" ".join(b)) != key(title)]
    candidate = [_is_heading_candidate(b, rules) for b in blocks]
    out: list[Paragraph] = []
    section = INTRODUCTION
    for i, block in enumerate(blocks):
        if candidate[i] and not all(candidate[i + 1:]):
            section = " ".join(rules.heading_strip.sub("", block[0]).split())
        else:
            out.append(Paragraph(section, len(out) + 1, " ".join(" ".join(block).split())))
    return out


def split_sentences(text: str, rules: Rules) -> list[str]:
    """Sentences of a paragraph; no break after an abbreviation ("U.S.") or an initial."""
    sentences: list[str] = []
    start = 0
    for m in rules.boundary.finditer(text):
        before = text[start:m.start() + 1].split()
        token = before[-1].lstrip("\"“‘([") if before else ""
        if token in rules.abbreviations or rules.initial.match(token):
            continue
        sentences.append(" ".join(text[start:m.end()].split()))
        start = m.end()
    if text[start:].strip():
        sentences.append(" ".join(text[start:].split()))
    return sentences


def _actors_in(text: str, rules: Rules) -> list[str]:
    """Canonical actors named in text, by first appearance, each once."""
    hits = sorted((m.start(), i, actor) for i, (p, actor) in enumerate(rules.actors) for m in p.finditer(text))
    return list(dict.fromkeys(actor for _, _, actor in hits))


def _co_actors(predicate: str, rules: Rules) -> list[str]:
    spans = [m.group("span") for p in rules.co_actors for m in p.finditer(predicate)]
    return _actors_in(" | ".join(spans), rules)


def classify(
    sentence: str, rules: Rules, last_commitment: list[str], previous_in_paragraph: list[str]
) -> tuple[str, list[str]] | None:
    """(action, actors) when the sentence commits someone, else None.

    Each action match is tried left to right; its subject (the text before it) must name an actor,
    be a pronoun (the previous commitment's actors), or, for "will", be anything but a demonstrative
    back-reference (the actors of the previous committing sentence in the paragraph).
    """
    matches = sorted((m.start(), m.end(), action) for p, action in rules.actions for m in p.finditer(sentence))
    for start, end, action in matches:
        subject = sentence[:start].strip()
        actors = _actors_in(subject, rules)
        if not actors and _any(rules.pronoun_subjects, subject):
            actors = list(last_commitment)
        if not actors and action == "will" and subject and not _any(rules.back_reference_subjects, subject):
            actors = list(previous_in_paragraph)
        if actors:
            return action, list(dict.fromkeys(actors + _co_actors(sentence[end:], rules)))
    return None


def _scores(text: str, rules: Rules) -> dict[str, float]:
    return {t: sum(w * len(p.findall(text)) for p, w in kws) for t, kws in rules.themes.items()}


def theme_of(sentence: str, paragraph: str, rules: Rules) -> str:
    """Best keyword score on the sentence; ties to the paragraph's score, then to YAML order."""
    own, context = _scores(sentence, rules), _scores(paragraph, rules)
    order = list(rules.themes)
    return max(order, key=lambda t: (own[t], context[t], -order.index(t)))


def commitment_id(document_id: str, sentence: str) -> str:
    """Document id + hash of the normalised sentence: independent of where the sentence sits."""
    normalised = " ".join(re.sub(r"[^\w\s]", " ", sentence.lower()).split())
    return f"{document_id}:{hashlib.sha256(normalised.encode('utf-8')).hexdigest()[:10]}"


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)) if value else None


def extract_commitments(path: Path, rules_path: Path | None = None) -> pa.Table:
    """One row per committing sentence of the document at path (schema: SCHEMA)."""
    rules = load_rules(rules_path)
    doc = read_document(path)
    document_id = str(doc.meta["document_id"])
    title = str(doc.meta.get("title") or document_id)
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    last_commitment: list[str] = []
    sentence_index = 0
    for para in paragraphs(body_lines(doc.text, rules), rules, doc.meta.get("title")):
        previous: list[str] = []
        for position, sentence in enumerate(split_sentences(para.text, rules), start=1):
            sentence_index += 1
            found = classify(sentence, rules, last_commitment, previous)
            previous = found[1] if found else []
            if not found:
                continue
            last_commitment = found[1]
            cid = commitment_id(document_id, sentence)
            seen[cid] = seen.get(cid, 0) + 1
            rows.append({
                # A sentence repeated verbatim in one document gets a numbered suffix.
                "commitment_id": cid if seen[cid] == 1 else f"{cid}-{seen[cid]}",
                "document_id": document_id,
                "section": para.section,
                "paragraph_index": para.index,
                "sentence_index": sentence_index,
                "sentence_in_paragraph": position,
                "actors": found[1],
                "action": found[0],
                "theme": theme_of(sentence, para.text, rules),
                "text": sentence,
                "document_title": title,
                "document_date": _date(doc.meta.get("published")),
                "source_url": doc.meta.get("source_url"),
            })
    return pa.Table.from_pylist(rows, schema=SCHEMA)

"""Build data/snapshot/eor_live/ from the one recorded EOR SCADA answer that carries a date.

No EOR extract is in shared/data (API_FORMATS.md §6: none was found). The only recorded answers of
the SCADA feed found are electricitymaps-contrib's test mocks; the one named for its day,
parsers/test/mocks/ENTE/response_generic_20240403.json, is kept (its status points trimmed to
two, every MW point kept) as tests/fixtures/eor_live/scada_2024-04-03.json, and is re-serialised
here in the feed's own JSON shape. The file name carries the day the reading was recorded, which is
what dates the readings (the body has no time).

Run: python tools/snapshot_eor_live.py [--out data/snapshot/eor_live]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from snapshot_common import write_manifest

REPO = Path(__file__).resolve().parents[1]
RECORDED = REPO / "tests" / "fixtures" / "eor_live" / "scada_2024-04-03.json"


def build(recorded: Path, out: Path) -> int:
    points = json.loads(recorded.read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    (out / recorded.name).write_text(json.dumps(points, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if json.loads((out / recorded.name).read_text(encoding="utf-8")) != points:
        raise SystemExit("re-serialised SCADA sample differs from the recording")
    write_manifest(out, [{
        "file": recorded.name,
        "publisher": "Ente Operador Regional (EOR), SIEPAC real-time SCADA",
        "address": "https://mapa.enteoperador.org/WebServiceScadaEORRest/webresources/generic",
        "licence": "No licence stated by the EOR (public real-time map feed)",
        "retrieved_at": "2024-04-03T00:00:00",  # the day in the recording's name; time of day not recorded
        "origin": "electricitymaps/electricitymaps-contrib/parsers/test/mocks/ENTE/response_generic_20240403.json"
                  "@de1c1c194338ec177e7173d9aee8d4009eec4b49",
        "note": f"{len(points)} SCADA points (all 22 MW points; 2 of the status .EST points); "
                "a recorded answer used as a test mock by electricitymaps-contrib.",
    }])
    return len(points)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recorded", type=Path, default=RECORDED)
    ap.add_argument("--out", type=Path, default=REPO / "data" / "snapshot" / "eor_live")
    a = ap.parse_args()
    print(f"{build(a.recorded, a.out)} points -> {a.out / a.recorded.name}")


if __name__ == "__main__":
    main()

"""One rulebook per desk: the desks file, the manifest's ``desk`` column, and ``callqa batch
--desks`` end to end with the real model on short clips of the sample calls (each result
records its desk and rulebook; changing one desk's rulebook re-scores only that desk's calls,
without ASR)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from callqa.batch.desks import DeskMap, assign_desks, load_desks
from callqa.batch.discover import BatchInputError, discover
from callqa.cli import app

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RULES = ROOT / "rules" / "default.yaml"


def gas_rulebook(path: Path, version: int = 1) -> Path:
    """The default rulebook under another name and version."""
    text = DEFAULT_RULES.read_text(encoding="utf-8")
    text = text.replace("name: callqa-default", "name: 燃气热线", 1)
    text = text.replace("version: 1", f"version: {version}", 1)
    path.write_text(text, encoding="utf-8")
    return path


def desks_file(tmp_path: Path) -> Path:
    gas_rulebook(tmp_path / "gas.yaml")
    p = tmp_path / "desks.yaml"
    p.write_text(f"desks:\n  物业:\n    rules: {DEFAULT_RULES}\n    folders: [物业]\n"
                 "  燃气:\n    rules: gas.yaml\n    folders: [gas, 燃气/夜班]\n"
                 "default: 物业\n", encoding="utf-8")
    return p


def test_desks_file_and_assignment(tmp_path):
    m = load_desks(desks_file(tmp_path))
    assert set(m.desks) == {"物业", "燃气"} and m.default == "物业"
    assert m.desks["燃气"].rules == tmp_path / "gas.yaml"  # relative to the desks file
    rec = tmp_path / "rec"
    for rel in ("gas/A001_1.flac", "燃气/夜班/A002_2.flac", "物业/A003_3.flac", "other/A004_4.flac",
                "A005_5.flac"):
        (rec / rel).parent.mkdir(parents=True, exist_ok=True)
        (rec / rel).write_bytes(b"")
    manifest = tmp_path / "calls.csv"
    manifest.write_text("path,desk\nother/A004_4.flac,燃气\n", encoding="utf-8")
    calls = assign_desks(discover(rec, manifest), rec, m)
    assert {c.call_id: c.desk for c in calls} == {
        "A001_1": "燃气", "A002_2": "燃气", "A003_3": "物业", "A004_4": "燃气", "A005_5": "物业"}
    # without a desks file the column is only a label
    assert {c.call_id: c.desk for c in discover(rec, manifest)}["A004_4"] == "燃气"

    manifest.write_text("path,desk\nother/A004_4.flac,宽带\n", encoding="utf-8")
    with pytest.raises(BatchInputError, match="宽带"):
        assign_desks(discover(rec, manifest), rec, m)


@pytest.mark.parametrize("text, message, line", [
    ("desks: []\n", "'desks:' mapping", 1),
    ("desks:\n  燃气: {}\n", "needs 'rules'", 2),
    ("desks:\n  a:\n    rules: x.yaml\n  燃气:\n    rules: x.yaml\n    colour: red\n",
     "unknown key 'colour'", 4),
    ("desks:\n  a:\n    folders: [gas]\n  b:\n    folders: [gas/]\n", "claimed by desks", 4),
    ("desks:\n  a:\n    folders: [gas]\ndefault: b\n", "default desk 'b'", 4),
    ("desks:\n  a: [\n", "not valid YAML", None),
    ("desks:\n  a:\n    folders: [gas]\nrulez: 1\n", "unknown key 'rulez'", 4),
])
def test_bad_desks_files_name_file_and_line(tmp_path, text, message, line):
    p = tmp_path / "desks.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(BatchInputError, match=message) as exc:
        load_desks(p)
    assert "desks.yaml" in str(exc.value)
    if line is not None:
        assert f":{line}" in str(exc.value)


def test_batch_with_a_bad_desks_file_exits_2(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    p = tmp_path / "desks.yaml"
    p.write_text("desks:\n  a:\n    rules: missing.yaml\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["batch", str(rec), "--out", str(tmp_path / "out"),
                                   "--desks", str(p), "--no-progress"])
    assert res.exit_code == 2 and "missing.yaml" in res.output


def _rows(out: Path) -> dict[str, dict]:
    conn = sqlite3.connect(out / "callqa.db")
    conn.row_factory = sqlite3.Row
    try:
        return {r["call_id"]: dict(r) for r in conn.execute("SELECT * FROM calls")}
    finally:
        conn.close()


@pytest.mark.slow
def test_batch_scores_each_desk_with_its_rulebook(tmp_path):
    from test_batch_run import make_recordings

    rec, out = tmp_path / "rec", tmp_path / "out"
    make_recordings(rec, ["gas/A001_0001.flac", "物业/A002_0002.flac"])
    desks = desks_file(tmp_path)
    args = ["batch", str(rec), "--out", str(out), "--desks", str(desks), "--no-progress"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    results = {cid: json.loads((out / r["result_path"]).read_text("utf-8"))
               for cid, r in rows.items()}
    assert {cid: r["desk"] for cid, r in results.items()} == {"A001_0001": "燃气",
                                                              "A002_0002": "物业"}
    gas, prop = results["A001_0001"]["rulebook"], results["A002_0002"]["rulebook"]
    assert (gas["name"], gas["version"]) == ("燃气热线", 1)
    assert (prop["name"], prop["path"]) == ("callqa-default", str(DEFAULT_RULES))
    assert gas["sha256"] != prop["sha256"]
    assert rows["A001_0001"]["rulebook_sha256"] == gas["sha256"]

    # the gas desk's rulebook changes: only its call is re-scored, from its transcript
    gas_rulebook(tmp_path / "gas.yaml", version=2)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "1 re-scored from transcripts" in res.output and "1 skipped" in res.output
    again = json.loads((out / _rows(out)["A001_0001"]["result_path"]).read_text("utf-8"))
    assert again["rulebook"]["version"] == 2 and again["desk"] == "燃气"


def test_desk_map_without_folders_uses_manifest_only(tmp_path):
    m = DeskMap("d.yaml", {}, None)
    assert m.for_path("gas/x.wav") is None

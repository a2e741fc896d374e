"""The review store (callqa/verdicts/) on a real SQLite batch database: verdicts matched by
call + rule + moment across re-scoring, appeals, sampling, precision and the report export."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from callqa.batch.store import Store
from callqa.verdicts import (REVIEW_COLUMNS, ReviewError, ReviewStore, rule_precision,
                            review_rows)


def finding(rule_id: str, start: float, deduction: float = 5.0):
    return SimpleNamespace(rule_id=rule_id, start=start, end=start + 1.0, speaker="agent",
                           evidence="不知道", deduction=deduction)


@pytest.fixture
def db(tmp_path):
    with Store.open(tmp_path) as store:
        for i, (agent, day) in enumerate([("A1", "2026-11-20"), ("A1", "2026-11-21"),
                                          ("A2", "2026-11-21"), ("A2", "2026-11-22")]):
            store.update(f"c{i}", path=f"c{i}.wav", agent_id=agent, status="scored",
                         started_at=f"{day}T09:00:00")
    return tmp_path / "callqa.db"


@pytest.fixture
def rs(db):
    with ReviewStore.open(db) as rs:
        yield rs


def test_secrets_are_hashed_and_verified(rs):
    rs.add_user("王芳", "reviewer", "pw-1")
    row = rs.conn.execute("SELECT secret_hash FROM review_users").fetchone()[0]
    assert "pw-1" not in row and row.startswith("scrypt$")
    assert rs.authenticate("王芳", "pw-1").role == "reviewer"
    assert rs.authenticate("王芳", "pw-2") is None
    assert rs.authenticate("nobody", "pw-1") is None
    agent = rs.add_user("A1", "agent", "t")
    assert agent.agent_id == "A1"
    with pytest.raises(ReviewError, match="role must be"):
        rs.add_user("x", "admin", "t")


def test_verdict_survives_rescoring_and_vanished_finding_is_history(rs):
    qa = rs.add_user("qa", "reviewer", "s")
    rs.set_verdict(qa, "c0", finding("FB01", 10.0), "rejected", "客户说的")
    # re-scored: the same finding moved by 0.4 s, a new one appeared
    now = [finding("GR01", 0.5), finding("FB01", 10.4)]
    from callqa.verdicts import match_reviews
    matched, history = match_reviews(now, rs.reviews("c0"))
    assert list(matched) == [1] and matched[1].verdict == "rejected" and history == []
    with pytest.raises(ReviewError, match="reason"):
        rs.set_verdict(qa, "c0", now[1], "rejected", "  ")
    # reviewing the moved finding again updates the same review, not a second one
    rs.set_verdict(qa, "c0", now[1], "confirmed")
    assert [(r.start, r.verdict) for r in rs.reviews("c0")] == [(10.0, "confirmed")]
    # the rule no longer fires: the review is kept as history
    matched, history = match_reviews([finding("GR01", 0.5)], rs.reviews("c0"))
    assert matched == {} and [h.rule_id for h in history] == ["FB01"]


def test_only_reviewers_judge_and_only_agents_appeal(rs):
    agent = rs.add_user("A1", "agent", "t")
    qa = rs.add_user("qa", "reviewer", "s")
    with pytest.raises(ReviewError, match="not a reviewer"):
        rs.set_verdict(agent, "c0", finding("FB01", 1.0), "rejected")
    with pytest.raises(ReviewError, match="only agents appeal"):
        rs.appeal(qa, "c0", "FB01", 1.0, "x")
    ap = rs.appeal(agent, "c0", "FB01", 1.0, "这是客户说的")
    with pytest.raises(ReviewError, match="still open"):
        rs.appeal(agent, "c0", "FB01", 1.2, "again")
    with pytest.raises(ReviewError, match="not a reviewer"):
        rs.resolve_appeal(agent, ap.id, "overturned")
    done = rs.resolve_appeal(qa, ap.id, "overturned", "确为客户", finding=finding("FB01", 1.0))
    assert (done.status, done.resolver) == ("overturned", "qa") and done.resolved_at
    assert rs.reviews("c0")[0].verdict == "rejected"
    trail = [(e["user"], e["action"]) for e in rs.events("c0")]
    assert trail[:3] == [("qa", "rejected"), ("qa", "appeal_overturned"), ("A1", "appeal")]
    assert rs.events("c0")[2]["detail"]["comment"] == "这是客户说的"
    with pytest.raises(ReviewError, match="already overturned"):
        rs.resolve_appeal(qa, ap.id, "upheld")


def test_overturned_appeal_withdraws_an_added_finding(rs):
    qa = rs.add_user("qa", "reviewer", "s")
    agent = rs.add_user("A1", "agent", "t")
    m = rs.add_missed(qa, "c0", "GR01", "agent", 0.0, 2.0, 5.0, "没有问候")
    ap = rs.appeal(agent, "c0", "GR01", 0.0, "我说了您好", missed_id=m.id)
    rs.resolve_appeal(qa, ap.id, "overturned")
    assert rs.missed("c0")[0].withdrawn_at is not None


def test_sampling_is_stratified_and_skips_reviewed_calls(rs):
    qa = rs.add_user("qa", "reviewer", "s")
    rs.mark_reviewed(qa, "c1")
    assert sorted(rs.unreviewed_calls()) == [("c0", "A1"), ("c2", "A2"), ("c3", "A2")]
    assert sorted(rs.unreviewed_calls("2026-11-21", "2026-11-21")) == [("c2", "A2")]
    qid = rs.create_queue(qa, "周抽检", 1, seed=7)
    q, items = rs.queue(qid)
    assert q["per_agent"] == 1 and sorted(i["agent_id"] for i in items) == ["A1", "A2"]
    assert qid == rs.queues()[0]["id"] and rs.queues()[0]["calls"] == 2


def test_precision_and_export(rs, db):
    qa = rs.add_user("qa", "reviewer", "s")
    agent = rs.add_user("A1", "agent", "t")
    rs.set_verdict(qa, "c0", finding("FB01", 1.0), "confirmed")
    rs.set_verdict(qa, "c1", finding("FB01", 1.0), "rejected", "误报")
    rs.set_verdict(qa, "c2", finding("FB01", 1.0), "confirmed")
    rs.add_missed(qa, "c3", "GR01", "agent", 0.0, 1.0, 5.0)
    rs.appeal(agent, "c1", "FB01", 1.0, "不是我")
    rows = {(r.rule_id, r.agent_id): r for r in rule_precision(db)}
    assert rows["FB01", None].precision == pytest.approx(2 / 3)
    assert (rows["FB01", "A1"].confirmed, rows["FB01", "A1"].rejected) == (1, 1)
    assert rows["FB01", "A2"].precision == 1.0
    assert rows["GR01", None].precision is None and rows["GR01", None].missed == 1
    # the period filter is on the call's started_at, both days inclusive
    only = {(r.rule_id, r.agent_id): r for r in rule_precision(db, "2026-11-21", "2026-11-21")}
    assert only["FB01", None].reviewed == 2 and ("GR01", None) not in only
    export = review_rows(db)
    assert [(r.kind, r.call_id) for r in export] == [
        ("verdict", "c0"), ("verdict", "c1"), ("verdict", "c2"), ("missed", "c3")]
    assert export[1].appeal_status == "open" and export[1].appeal_comment == "不是我"
    assert set(export[0].to_dict()) == set(REVIEW_COLUMNS)


def test_report_interface_on_a_database_without_reviews(tmp_path):
    assert rule_precision(tmp_path / "missing.db") == []
    Store.open(tmp_path).close()
    assert review_rows(tmp_path / "callqa.db") == []


def test_precision_rows_of_calls_without_an_agent_come_after_the_agents(rs, db):
    with Store.open(db.parent) as store:
        store.update("nobody", path="n.wav", status="scored", started_at="2026-11-21T10:00:00")
    qa = rs.add_user("qa", "reviewer", "s")
    rs.set_verdict(qa, "nobody", finding("FB01", 1.0), "rejected", "客户说的")
    rs.set_verdict(qa, "c2", finding("FB01", 1.0), "confirmed")
    rs.set_verdict(qa, "c0", finding("FB01", 1.0), "confirmed")
    rows = [(r.agent_id, r.confirmed, r.rejected) for r in rule_precision(db)]
    assert rows == [(None, 2, 1), ("A1", 1, 0), ("A2", 1, 0), (None, 0, 1)]

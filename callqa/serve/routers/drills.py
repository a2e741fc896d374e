"""Drills (练习): a trainer makes a scenario from a call, a trainee takes it in the browser, the
attempt is scored by the normal pipeline, and both see progress.

The page records the microphone from the moment the call starts and uploads it in pieces
(one a second), so a dropped connection loses nothing already sent; the customer turns it
played, and when, come with "finish". Scoring runs on one background thread (the model is one
per process); the page polls the attempt until it is scored.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from callqa.drill import attempt as scoring
from callqa.drill.progress import cohort, cohort_csv, cohort_xlsx
from callqa.drill.scenario import DrillError, Scenario, clip_wav, scenario_from_call
from callqa.asr.audio import SAMPLE_RATE
from callqa.drill.store import MAX_CHUNK_BYTES, Attempt, DrillStore, Play, TooLarge
from callqa.serve import index, queries
from callqa.serve.deps import Settings, csrf_form, current_user, db, json_body, settings
from callqa.serve.pages import NavLink, render
from callqa.verdicts import User

router = APIRouter()
NAV = [NavLink("/drills", "练习", roles=("trainer", "trainee"))]


# --------------------------------------------------------------------------- dependencies

def drills(conn: sqlite3.Connection = Depends(db), s: Settings = Depends(settings)) -> DrillStore:
    return DrillStore(conn, s.out_dir)


def trainer(user: User = Depends(current_user)) -> User:
    if user.role != "trainer":
        raise HTTPException(403, "只有培训师可以这样做")
    return user


def drill_user(user: User = Depends(current_user)) -> User:
    if user.role not in ("trainer", "trainee"):
        raise HTTPException(403, "练习只对培训师和学员开放")
    return user


Store = Annotated[DrillStore, Depends(drills)]
Trainer = Annotated[User, Depends(trainer)]
DrillUser = Annotated[User, Depends(drill_user)]


def _scenario(store: DrillStore, user: User, scenario_id: int) -> Scenario:
    try:
        sc = store.scenario(scenario_id)
    except DrillError:
        raise queries.NotFound(f"练习 {scenario_id}") from None
    if user.role != "trainer" and user.name not in sc.assigned:
        raise queries.NotFound(f"练习 {scenario_id}")
    return sc


def _attempt(store: DrillStore, user: User, attempt_id: int) -> Attempt:
    try:
        a = store.attempt(attempt_id)
    except DrillError:
        raise queries.NotFound(f"练习记录 {attempt_id}") from None
    if user.role != "trainer" and a.trainee != user.name:
        raise queries.NotFound(f"练习记录 {attempt_id}")
    return a


def _executor(request: Request) -> ThreadPoolExecutor:
    state = request.app.state
    if getattr(state, "drill_executor", None) is None:
        state.drill_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drill")
    return state.drill_executor


def _asr(request: Request, rulebook):
    """The ASR options of drills: ``app.state.drill_asr`` if set, else the defaults with the
    rulebook's vocabulary (as ``callqa score`` has)."""
    from callqa.asr.pipeline import AsrOptions

    asr = getattr(request.app.state, "drill_asr", None)
    return asr if asr is not None else AsrOptions(hotwords=tuple(rulebook.vocabulary))


def _rulebook(sc: Scenario):
    from callqa.scoring import load_rulebook

    return load_rulebook(sc.rulebook_path)


# --------------------------------------------------------------------------- models

class ScenarioIn(BaseModel):
    call_id: str = Field(min_length=1, max_length=200)
    title: str = Field("", max_length=100)
    brief: str = Field("", max_length=2000)
    pass_mark: float | None = Field(None, ge=0, le=100, allow_inf_nan=False)
    trainees: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=200)


class PlayIn(BaseModel):
    turn: int = Field(ge=0, le=10000)
    at_s: float = Field(ge=0, le=3600, allow_inf_nan=False)


class FinishIn(BaseModel):
    chunks: int = Field(ge=0, le=100000)
    plays: list[PlayIn] = Field(max_length=10000)


def _scenario_out(sc: Scenario) -> dict:
    return {"id": sc.id, "call_id": sc.call_id, "title": sc.title, "brief": sc.brief,
            "pass_mark": sc.pass_mark, "agent_first": sc.agent_first, "assigned": sc.assigned,
            "turns": [{"index": i, "duration_s": round(t.duration, 3), "text": t.text,
                       "url": f"/drills/{sc.id}/turns/{i}.wav"}
                      for i, t in enumerate(sc.turns)]}


def _attempt_out(a: Attempt) -> dict:
    return {"id": a.id, "scenario_id": a.scenario_id, "trainee": a.trainee,
            "status": a.status, "state": a.state_label, "chunks": a.chunks, "bytes": a.bytes,
            "score": a.score, "passed": a.passed, "vetoed": a.vetoed, "rules": a.rules,
            "message": a.message, "started_at": a.started_at, "finished_at": a.finished_at}


# --------------------------------------------------------------------------- scenarios

def create_scenario(conn, s: Settings, store: DrillStore, user: User, d: ScenarioIn) -> Scenario:
    row, result = queries.get_call(conn, s.out_dir, d.call_id, None)
    found, tried = queries.audio_path(row, s.out_dir)
    if found is None:
        raise DrillError(d.call_id, f"找不到录音（已查找：{'，'.join(map(str, tried))}）")
    rb = result.rulebook or {}
    channel = conn.execute("SELECT agent_channel FROM calls WHERE call_id = ?",
                           (d.call_id,)).fetchone()
    sc = scenario_from_call(result, found, agent_channel=(channel and channel[0]) or "left",
                            title=d.title, brief=d.brief, pass_mark=d.pass_mark,
                            rulebook_path=rb.get("path") or None, created_by=user.name)
    sc.assigned = sorted({t.strip() for t in d.trainees if t.strip()})
    return store.add_scenario(sc)


@router.post("/api/drills/scenarios", tags=["drills"], dependencies=[Depends(json_body)])
def api_create(d: ScenarioIn, store: Store, user: Trainer,
               conn: sqlite3.Connection = Depends(db), s: Settings = Depends(settings)) -> dict:
    return _scenario_out(create_scenario(conn, s, store, user, d))


@router.post("/drills/scenarios", include_in_schema=False, dependencies=[Depends(csrf_form)])
def form_create(store: Store, user: Trainer, call_id: str = Form(...), title: str = Form(""),
                brief: str = Form(""), pass_mark: str = Form(""), trainees: str = Form(""),
                conn: sqlite3.Connection = Depends(db), s: Settings = Depends(settings)):
    try:
        mark = float(pass_mark) if pass_mark.strip() else None
    except ValueError:
        raise HTTPException(400, "及格分应是 0–100 的数字") from None
    d = ScenarioIn(call_id=call_id, title=title, brief=brief, pass_mark=mark,
                   trainees=[t for t in trainees.replace("，", ",").split(",") if t.strip()])
    sc = create_scenario(conn, s, store, user, d)
    return RedirectResponse(f"/drills/{sc.id}", status_code=303)


@router.post("/drills/{scenario_id:int}/assign", include_in_schema=False,
             dependencies=[Depends(csrf_form)])
def form_assign(scenario_id: int, store: Store, user: Trainer, trainees: str = Form("")):
    _scenario(store, user, scenario_id)
    store.assign(scenario_id, [t.strip() for t in trainees.replace("，", ",").split(",")
                               if t.strip()][:200])
    return RedirectResponse(f"/drills/{scenario_id}", status_code=303)


@router.get("/api/drills/scenarios", tags=["drills"])
def api_scenarios(store: Store, user: DrillUser) -> list[dict]:
    mine = None if user.role == "trainer" else user.name
    return [_scenario_out(sc) for sc in store.scenarios(mine)]


@router.get("/api/drills/scenarios/{scenario_id}", tags=["drills"])
def api_scenario(scenario_id: int, store: Store, user: DrillUser) -> dict:
    return _scenario_out(_scenario(store, user, scenario_id))


@router.get("/drills", include_in_schema=False)
def page_drills(request: Request, store: Store, user: DrillUser,
                conn: sqlite3.Connection = Depends(db)):
    mine = None if user.role == "trainer" else user.name
    scenarios = store.scenarios(mine)
    calls = []
    if user.role == "trainer":  # the calls a scenario can be made from
        calls = conn.execute("SELECT call_id, agent_id, score FROM calls WHERE status = 'scored' "
                             "ORDER BY call_id LIMIT 500").fetchall()
    attempts = store.attempts(None if user.role == "trainer" else user.name)
    return render(request, "drills.html.j2", user=user, scenarios=scenarios, calls=calls,
                  attempts=attempts[-20:][::-1],
                  titles={sc.id: sc.title for sc in store.scenarios()})


@router.get("/drills/{scenario_id:int}", include_in_schema=False)
def page_scenario(request: Request, scenario_id: int, store: Store, user: DrillUser):
    sc = _scenario(store, user, scenario_id)
    mine = store.attempts(None if user.role == "trainer" else user.name, scenario_id)
    return render(request, "drill_take.html.j2", user=user, sc=sc, scenario=_scenario_out(sc),
                  attempts=mine[::-1])


@router.get("/drills/{scenario_id:int}/turns/{index:int}.wav", include_in_schema=False)
def turn_audio(scenario_id: int, index: int, store: Store, user: DrillUser):
    sc = _scenario(store, user, scenario_id)
    if not 0 <= index < len(sc.turns):
        raise queries.NotFound(f"第 {index + 1} 轮")
    wav = clip_wav(sc.turns[index], scoring.customer_samples(sc), SAMPLE_RATE)
    return Response(wav, media_type="audio/wav", headers={"Cache-Control": "private, max-age=600"})


# --------------------------------------------------------------------------- taking the call

@router.post("/api/drills/scenarios/{scenario_id}/attempts", tags=["drills"],
             dependencies=[Depends(json_body)])
def api_start(request: Request, scenario_id: int, store: Store, user: DrillUser) -> dict:
    sc = _scenario(store, user, scenario_id)
    attempt = store.start_attempt(scenario_id, user.name)
    _executor(request).submit(scoring.warm_up, _asr(request, _rulebook(sc)))
    return _attempt_out(attempt)


async def _audio_body(request: Request) -> bytes:
    """One piece of the recording: a binary body (a cross-site form cannot send one without
    CORS), bounded while it is read."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/octet-stream", "audio/webm", "audio/ogg"):
        raise HTTPException(415, "录音片段应以 audio/webm 或 application/octet-stream 上传")
    size = request.headers.get("content-length") or "0"
    if not size.isdigit():
        raise HTTPException(400, "Content-Length 无效")
    if int(size) > MAX_CHUNK_BYTES:
        raise HTTPException(413, f"录音片段超过上限 {MAX_CHUNK_BYTES >> 10} KB")
    body = b""
    async for part in request.stream():
        body += part
        if len(body) > MAX_CHUNK_BYTES:
            raise HTTPException(413, f"录音片段超过上限 {MAX_CHUNK_BYTES >> 10} KB")
    return body


@router.post("/api/drills/attempts/{attempt_id}/audio", tags=["drills"])
def api_chunk(attempt_id: int, store: Store, user: DrillUser,
              seq: Annotated[int, Query(ge=0, le=100000)],
              body: bytes = Depends(_audio_body)) -> dict:
    a = _attempt(store, user, attempt_id)
    if a.trainee != user.name:
        raise HTTPException(403, "只能上传自己的练习录音")
    try:
        return _attempt_out(store.add_chunk(attempt_id, seq, body))
    except TooLarge as exc:  # kept as it is, never scored
        store.set_status(attempt_id, "incomplete", str(exc))
        raise HTTPException(413, str(exc)) from None


class PlaysIn(BaseModel):
    plays: list[PlayIn] = Field(max_length=10000)


@router.post("/api/drills/attempts/{attempt_id}/plays", tags=["drills"],
             dependencies=[Depends(json_body)])
def api_plays(request: Request, attempt_id: int, p: PlaysIn, store: Store, user: DrillUser,
              s: Settings = Depends(settings)) -> dict:
    """The customer turns played so far (the page sends them after each turn): the call so far
    is recognised in the background, so that only the last answer is left at the end."""
    a = _attempt(store, user, attempt_id)
    if a.trainee != user.name:
        raise HTTPException(403, "只能更新自己的练习")
    if a.status != "recording":
        return _attempt_out(a)
    sc = store.scenario(a.scenario_id)
    store.set_plays(attempt_id, [Play(x.turn, x.at_s) for x in p.plays if x.turn < len(sc.turns)])
    asr = _asr(request, _rulebook(sc))
    pending = request.app.state.__dict__.setdefault("drill_pending", {})
    pending[attempt_id] = ticket = object()

    def job() -> None:
        if pending.get(attempt_id) is not ticket:
            return  # a newer request for this attempt is queued: that one does it
        conn = index.connect(s.db_path)
        try:
            own = DrillStore(conn, s.out_dir)
            current = own.attempt(attempt_id)
            if current.status == "recording":
                scoring.prepare_attempt(own, sc, current, asr)
        except Exception:  # only a head start: the final scoring does everything again
            scoring.logger.exception("drill attempt %s: preparing", attempt_id)
        finally:
            conn.close()

    _executor(request).submit(job)
    return _attempt_out(store.attempt(attempt_id))


@router.post("/api/drills/attempts/{attempt_id}/finish", tags=["drills"],
             dependencies=[Depends(json_body)])
def api_finish(request: Request, attempt_id: int, f: FinishIn, store: Store, user: DrillUser,
               s: Settings = Depends(settings)) -> dict:
    a = _attempt(store, user, attempt_id)
    if a.trainee != user.name:
        raise HTTPException(403, "只能结束自己的练习")
    if a.status != "recording":
        return _attempt_out(a)  # finished already (a resent request)
    sc = store.scenario(a.scenario_id)
    plays = [Play(p.turn, p.at_s) for p in f.plays if p.turn < len(sc.turns)]
    store.set_plays(attempt_id, plays)
    why = scoring.check_complete(sc, a, f.chunks, plays)
    if why is not None:
        store.set_status(attempt_id, "incomplete", why)
        return _attempt_out(store.attempt(attempt_id))
    store.set_status(attempt_id, "scoring")
    rulebook = _rulebook(sc)
    asr = _asr(request, rulebook)

    def job() -> None:
        conn = index.connect(s.db_path)
        try:
            own = DrillStore(conn, s.out_dir)
            scoring.score_attempt(own, sc, own.attempt(attempt_id), rulebook, asr)
        except Exception as exc:  # never leave an attempt "scoring" for ever
            scoring.logger.exception("drill attempt %s", attempt_id)
            DrillStore(conn, s.out_dir).set_status(attempt_id, "incomplete",
                                                   f"评分失败：{type(exc).__name__}")
        finally:
            conn.close()

    _executor(request).submit(job)
    return _attempt_out(store.attempt(attempt_id))


@router.get("/api/drills/attempts/{attempt_id}", tags=["drills"])
def api_attempt(attempt_id: int, store: Store, user: DrillUser) -> dict:
    return _attempt_out(_attempt(store, user, attempt_id))


@router.get("/drills/attempts/{attempt_id}/audio", include_in_schema=False)
def attempt_audio(attempt_id: int, store: Store, user: DrillUser):
    """The call as scored (the trainee left, the customer right, a seekable WAV), else the
    browser's recording as uploaded (an attempt never assembled)."""
    _attempt(store, user, attempt_id)
    try:
        return FileResponse(scoring.call_wav(store, attempt_id), media_type="audio/wav")
    except FileNotFoundError:
        path = store.attempt_dir(attempt_id) / scoring.AGENT_FILE
        if not path.is_file():
            raise queries.NotFound("这次练习没有录音") from None
        return FileResponse(path, media_type="audio/webm")


@router.get("/drills/attempts/{attempt_id}", include_in_schema=False)
def page_attempt(request: Request, attempt_id: int, store: Store, user: DrillUser):
    a = _attempt(store, user, attempt_id)
    sc = store.scenario(a.scenario_id)
    result = scoring.load_result(store, attempt_id)
    rb = _rulebook(sc) if result is not None else None
    rules = {r.id: r for r in rb.rules} if rb else {}
    return render(request, "drill_result.html.j2", user=user, a=a, sc=sc, r=result,
                  rules=rules, rows=_rows(result) if result else [])


def _rows(result) -> list[dict]:
    """The attempt's turns in time order, each with the findings that fall inside it; findings
    at no turn (a silence, a phrase missing from the whole call) as rows of their own."""
    rows = [{"u": u, "findings": []} for u in sorted(result.utterances, key=lambda u: u.start)]
    extra = []
    for f in result.findings:
        home = next((r for r in rows if r["u"].speaker == f.speaker
                     and r["u"].start - 0.05 <= f.start < r["u"].end), None)
        if home is not None:
            home["findings"].append(f)
        else:
            extra.append({"u": None, "start": f.start, "findings": [f]})
    return sorted(rows + extra, key=lambda r: r["u"].start if r["u"] else r["start"])


# --------------------------------------------------------------------------- progress

def _cohort(store: DrillStore, user: User):
    if user.role == "trainer":
        return cohort(store.scenarios(), store.attempts())
    return cohort(store.scenarios(user.name), store.attempts(user.name), [user.name])


@router.get("/drills-progress", include_in_schema=False)
def page_progress(request: Request, store: Store, user: DrillUser):
    return render(request, "drill_progress.html.j2", user=user, c=_cohort(store, user))


@router.get("/api/drills/progress", tags=["drills"])
def api_progress(store: Store, user: DrillUser) -> list[dict]:
    c = _cohort(store, user)
    return [{"trainee": t, "scenario_id": sid, "attempts": len(cell.attempts),
             "scores": cell.scores, "best": cell.best, "passed": cell.passed,
             "most_broken": c.broken.get(t, [])} for (t, sid), cell in sorted(c.cells.items())]


@router.get("/drills-progress.csv", include_in_schema=False)
def export_csv(store: Store, user: Trainer):
    return Response(cohort_csv(_cohort(store, user)), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=drill-progress.csv"})


@router.get("/drills-progress.xlsx", include_in_schema=False)
def export_xlsx(store: Store, user: Trainer):
    return Response(cohort_xlsx(_cohort(store, user)), media_type=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        headers={"Content-Disposition": "attachment; filename=drill-progress.xlsx"})

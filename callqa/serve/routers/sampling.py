"""Sampling: N unreviewed calls per agent from a period, drawn at random, as a review queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse

from callqa.verdicts import ReviewStore, User
from callqa.serve.deps import csrf_form, json_body, reviewer, reviews
from callqa.serve.models import QueueIn
from callqa.serve.queries import check_day
from callqa.serve.pages import NavLink, render

router = APIRouter()
NAV = [NavLink("/queues", "抽检", reviewers_only=True)]
QueueId = Annotated[int, Path(ge=1, le=2 ** 62)]


def _queue(rs: ReviewStore, queue_id: int) -> dict:
    q, items = rs.queue(queue_id)
    return {**q, "items": items}


@router.post("/api/queues", tags=["sampling"], dependencies=[Depends(json_body)])
def api_create(q: QueueIn, rs: ReviewStore = Depends(reviews),
               user: User = Depends(reviewer)) -> dict:
    qid = rs.create_queue(user, q.name, q.per_agent, q.since, q.until, q.seed)
    return _queue(rs, qid)


@router.get("/api/queues", tags=["sampling"])
def api_queues(rs: ReviewStore = Depends(reviews), user: User = Depends(reviewer)) -> list[dict]:
    return rs.queues()


@router.get("/api/queues/{queue_id}", tags=["sampling"])
def api_queue(queue_id: QueueId, rs: ReviewStore = Depends(reviews),
              user: User = Depends(reviewer)) -> dict:
    return _queue(rs, queue_id)


@router.get("/queues", include_in_schema=False)
def page_queues(request: Request, rs: ReviewStore = Depends(reviews),
                user: User = Depends(reviewer)):
    return render(request, "queues.html.j2", user=user, queues=rs.queues())


@router.post("/queues", include_in_schema=False, dependencies=[Depends(csrf_form)])
def form_create(name: str = Form("抽检"), per_agent: int = Form(5), since: str = Form(""),
                until: str = Form(""), rs: ReviewStore = Depends(reviews),
                user: User = Depends(reviewer)):
    q = QueueIn(name=name, per_agent=per_agent, since=check_day(since), until=check_day(until))
    qid = rs.create_queue(user, q.name, q.per_agent, q.since, q.until)
    return RedirectResponse(f"/queues/{qid}", status_code=303)


@router.get("/queues/{queue_id}", include_in_schema=False)
def page_queue(request: Request, queue_id: QueueId, rs: ReviewStore = Depends(reviews),
               user: User = Depends(reviewer)):
    return render(request, "queue.html.j2", user=user, q=_queue(rs, queue_id))

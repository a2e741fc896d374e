"""Rule precision from reviewer verdicts, and per-agent scores and conversation metrics."""

from __future__ import annotations

import sqlite3

from fastapi import APIRouter, Depends, Request

from callqa.verdicts import User
from callqa.serve import queries
from callqa.serve.deps import Settings, agent_scope, current_user, db, reviewer, settings
from callqa.serve.models import PrecisionOut
from callqa.labels import METRIC_KEYS
from callqa.serve.pages import render

router = APIRouter()


@router.get("/api/precision", response_model=list[PrecisionOut], tags=["stats"])
def api_precision(since: str = "", until: str = "", conn: sqlite3.Connection = Depends(db),
                  s: Settings = Depends(settings),
                  user: User = Depends(reviewer)) -> list[PrecisionOut]:
    return queries.precision(conn, s.db_path, since or None, until or None)


@router.get("/precision", include_in_schema=False)
def page_precision(request: Request, since: str = "", until: str = "",
                   conn: sqlite3.Connection = Depends(db), s: Settings = Depends(settings),
                   user: User = Depends(reviewer)):
    rows = queries.precision(conn, s.db_path, since or None, until or None)
    return render(request, "precision.html.j2", user=user, rows=rows, since=since, until=until)


@router.get("/api/agents", tags=["stats"])
def api_agents(conn: sqlite3.Connection = Depends(db),
               scope: str | None = Depends(agent_scope)) -> list[dict]:
    return queries.agents(conn, scope)


@router.get("/agents", include_in_schema=False)
def page_agents(request: Request, conn: sqlite3.Connection = Depends(db),
                user: User = Depends(current_user), scope: str | None = Depends(agent_scope)):
    rows = queries.agents(conn, scope)
    keys = [k for k in METRIC_KEYS if any(k in a["metrics"] for a in rows)]
    return render(request, "agents.html.j2", user=user, agents=rows, keys=keys)

"""Search across transcripts: who said what, the hit marked, a link to the moment."""

from __future__ import annotations

import sqlite3
from typing import Annotated, Literal, Optional

from fastapi import APIRouter, Depends, Query, Request

from callqa.verdicts import User
from callqa.serve import queries
from callqa.serve.deps import agent_scope, current_user, db
from callqa.serve.models import MAX_ID, MAX_PAGE, MAX_QUERY, SearchPage
from callqa.serve.pages import NavLink, render

router = APIRouter()
NAV = [NavLink("/search", "搜索")]

Speaker = Optional[Literal["agent", "customer", ""]]
Text = Annotated[str, Query(max_length=MAX_QUERY, description="text said (any substring)")]
Short = Annotated[str, Query(max_length=MAX_ID)]
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def _search(conn, scope, q, speaker, agent, since, until, page) -> SearchPage:
    return queries.search(conn, q, scope, speaker=speaker or None, agent=agent or None,
                          since=since or None, until=until or None, page=page)


@router.get("/api/search", response_model=SearchPage, tags=["search"])
def api_search(q: Text = "", speaker: Speaker = None, agent: Short = "", since: Short = "",
               until: Short = "", page: Page = 1, conn: sqlite3.Connection = Depends(db),
               scope: str | None = Depends(agent_scope)) -> SearchPage:
    return _search(conn, scope, q, speaker, agent, since, until, page)


@router.get("/search", include_in_schema=False)
def page_search(request: Request, q: Text = "", speaker: Speaker = None, agent: Short = "",
                since: Short = "", until: Short = "", page: Page = 1,
                conn: sqlite3.Connection = Depends(db), user: User = Depends(current_user),
                scope: str | None = Depends(agent_scope)):
    result = _search(conn, scope, q, speaker, agent, since, until, page)
    pages = max(1, -(-result.total // result.per_page))
    return render(request, "search.html.j2", user=user, s=result, pages=pages,
                  speaker=speaker or "", agent=agent, since=since, until=until,
                  agents=queries.filter_options(conn, scope)["agents"])

"""The privacy officer's page: who opened which call's personal data unmasked, and when."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from callqa.serve.deps import privacy_officer, reviews
from callqa.serve.pages import NavLink, render
from callqa.verdicts import ReviewStore, User

router = APIRouter()
NAV = [NavLink("/privacy", "原文查看记录", roles=("privacy",))]


@router.get("/api/privacy/views", tags=["privacy"])
def api_views(limit: int = Query(200, ge=1, le=5000), rs: ReviewStore = Depends(reviews),
              user: User = Depends(privacy_officer)) -> list[dict]:
    """Every view of a call's original text (newest first): ``at``, ``user``, ``call_id``."""
    return [{k: e[k] for k in ("at", "user", "call_id")}
            for e in rs.events(action="view_original", limit=limit)]


@router.get("/privacy", include_in_schema=False)
def page_views(request: Request, rs: ReviewStore = Depends(reviews),
               user: User = Depends(privacy_officer)):
    return render(request, "privacy.html.j2", user=user,
                  views=rs.events(action="view_original", limit=500))

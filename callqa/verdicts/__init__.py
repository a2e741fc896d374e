"""Verdicts: what people decided about the machine's findings, beside the batch store.

Tables live in the batch's ``OUT/callqa.db`` (next to ``calls``), created on first use:

``review_users``     users with a role (``reviewer`` or ``agent``) and a hashed secret
``reviews``          one verdict per finding: ``confirmed``/``rejected``, reason, who, when
``missed_findings``  findings a reviewer added that the machine missed (rule, moment, note)
``appeals``          an agent disputes a finding; a reviewer upholds or overturns it
``call_reviews``     a reviewer marked the whole call as reviewed
``sample_queues``, ``sample_items``  random per-agent samples of unreviewed calls
``review_events``    every change, who and when (the audit trail)

A review is tied to a finding by **call + rule + moment** (``call_id``, ``rule_id``, ``start``),
not by a row number, so it survives re-scoring with a changed rulebook: :func:`match_reviews`
pairs each current finding with the nearest review of the same rule within
``MATCH_TOLERANCE_S``; a review whose finding vanished is kept and shown as history.

Two functions are the stable interface for ``callqa report`` (:mod:`callqa.verdicts.report`; their signatures do not change):

``rule_precision(db_path, since=None, until=None) -> list[PrecisionRow]``
    Per rule (``agent_id`` None) and per rule and agent: ``confirmed``, ``rejected``,
    ``precision`` = confirmed / (confirmed + rejected) (None when nothing was reviewed) and
    ``missed`` (findings of that rule reviewers added). Rows sorted by rule; a rule's all-agents
    row always comes first, then its agents by id, and calls without an agent id last (their row
    also has ``agent_id`` None: the first None row of a rule is the all-agents one). ``since``/``until`` (date, datetime or ISO string, both inclusive days) filter on the
    call's ``started_at``. Every verdict counts, including those whose finding later vanished.

``review_rows(db_path, since=None, until=None) -> list[ReviewRow]``
    Every verdict and every added finding, one flat row each (``ReviewRow.to_dict()`` keys are
    ``REVIEW_COLUMNS``), with the appeal on it if any, ordered by call and moment: the review
    export of the report.

Both return ``[]`` when the database has no review tables yet, and never write.
"""

from callqa.verdicts.logic import match_reviews, reviewed_score, sample_calls
from callqa.verdicts.records import (APPEAL_OUTCOMES, MATCH_TOLERANCE_S, REVIEW_COLUMNS, ROLES,
                                     VERDICTS, Appeal, MissedFinding, PrecisionRow, Review,
                                     ReviewError, ReviewRow, User)
from callqa.verdicts.report import review_rows, rule_precision
from callqa.verdicts.passwords import hash_secret, verify_secret
from callqa.verdicts.store import ReviewStore

__all__ = [
    "ROLES", "VERDICTS", "APPEAL_OUTCOMES", "MATCH_TOLERANCE_S", "REVIEW_COLUMNS",
    "ReviewError", "User", "Review", "MissedFinding", "Appeal", "PrecisionRow", "ReviewRow",
    "ReviewStore", "hash_secret", "verify_secret", "match_reviews", "reviewed_score",
    "sample_calls", "rule_precision", "review_rows",
]

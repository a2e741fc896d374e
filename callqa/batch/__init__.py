"""Batches of recordings: discovery, parallel ASR workers, and the resumable state store.

``callqa report`` reads what ``callqa batch`` wrote through :class:`Store`::

    with Store.open("callqa-out") as store:
        for r in store.results(since=date(2026, 11, 21)):
            print(r.agent_id, r.started_at, r.result.score)
"""

from callqa.batch.store import DEFAULT_OUT_DIR, Store, StoredResult, StoreError

__all__ = ["DEFAULT_OUT_DIR", "Store", "StoreError", "StoredResult"]

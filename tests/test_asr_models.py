"""Embedded model assembly from the installed packages into a temp cache: verify, reuse,
detect corruption and repair. Also model resolution and one load per process."""

import hashlib
import json
import os

import pytest

from callqa.asr.whisper import models
from callqa.asr.whisper.models import (EMBEDDED_SHA256, EMBEDDED_SIZE_BYTES, ensure_embedded_model,
                               resolve_model)
from callqa.errors import ModelError


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


@pytest.fixture
def fresh_dir(tmp_path):
    return tmp_path / "whisper-base"


def test_assembles_verified_model(fresh_dir):
    before = models.assembly_count
    out = ensure_embedded_model(fresh_dir)
    assert out == fresh_dir
    model_bin = fresh_dir / "model.bin"
    assert model_bin.stat().st_size == EMBEDDED_SIZE_BYTES
    assert sha256(model_bin) == EMBEDDED_SHA256
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        assert (fresh_dir / name).is_file()
    marker = json.loads((fresh_dir / "model.bin.verified.json").read_text())
    assert marker["sha256"] == EMBEDDED_SHA256 and marker["size"] == EMBEDDED_SIZE_BYTES
    assert models.assembly_count == before + 1
    assert not [p for p in fresh_dir.iterdir() if p.name.endswith(".tmp")]


def test_verified_copy_is_not_reassembled(fresh_dir):
    ensure_embedded_model(fresh_dir)
    st = (fresh_dir / "model.bin").stat()
    before = models.assembly_count
    ensure_embedded_model(fresh_dir)
    after = (fresh_dir / "model.bin").stat()
    assert models.assembly_count == before
    assert (after.st_ino, after.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)


def test_corrupted_model_is_detected_and_repaired(fresh_dir):
    ensure_embedded_model(fresh_dir)
    model_bin = fresh_dir / "model.bin"
    with model_bin.open("r+b") as f:  # same size, different bytes
        f.seek(EMBEDDED_SIZE_BYTES // 2)
        f.write(b"\x00corrupt\x00" * 8)
    assert sha256(model_bin) != EMBEDDED_SHA256
    before = models.assembly_count
    ensure_embedded_model(fresh_dir)
    assert models.assembly_count == before + 1
    assert sha256(model_bin) == EMBEDDED_SHA256


def test_corruption_with_restored_mtime_is_caught_by_size(fresh_dir):
    ensure_embedded_model(fresh_dir)
    model_bin = fresh_dir / "model.bin"
    st = model_bin.stat()
    with model_bin.open("r+b") as f:
        f.truncate(EMBEDDED_SIZE_BYTES - 1000)
    os.utime(model_bin, ns=(st.st_atime_ns, st.st_mtime_ns))
    ensure_embedded_model(fresh_dir)
    assert model_bin.stat().st_size == EMBEDDED_SIZE_BYTES
    assert sha256(model_bin) == EMBEDDED_SHA256


def test_good_copy_without_marker_is_rehashed_not_reassembled(fresh_dir):
    ensure_embedded_model(fresh_dir)
    (fresh_dir / "model.bin.verified.json").unlink()
    before = models.assembly_count
    ensure_embedded_model(fresh_dir)
    assert models.assembly_count == before
    assert (fresh_dir / "model.bin.verified.json").is_file()


def test_default_dir_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.default_model_dir() == tmp_path / "xdg" / "callqa" / "models" / "whisper-base"


def test_resolve_embedded_and_local_dir(model_dir):
    resolved = resolve_model("base", model_dir)
    assert resolved.source == str(model_dir)
    assert resolved.model_id.startswith("whisper-base@sha256:")
    local = resolve_model(str(model_dir))  # a CTranslate2 directory given as --model
    assert local.source == str(model_dir.resolve())
    assert local.model_id.startswith("local:")


def test_resolve_rejects_missing_or_non_model_dirs(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "nope" / "model"))
    with pytest.raises(ModelError, match="no model.bin"):
        resolve_model(str(tmp_path))


def test_resolve_hub_name_is_passed_through():
    assert resolve_model("large-v3").model_id == "hub:large-v3"


def test_unwritable_model_dir_is_a_model_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ModelError):
        ensure_embedded_model(blocker / "whisper-base")


def test_model_loads_once_per_process(model_dir):
    resolved = resolve_model("base", model_dir)
    first = models.load_model(resolved, "cpu")
    count = models.load_count
    assert models.load_model(resolved, "cpu", "int8") is first
    assert models.load_count == count


def test_default_compute_types():
    assert models.default_compute_type("cpu") == "int8"
    assert models.default_compute_type("cuda") == "float16"

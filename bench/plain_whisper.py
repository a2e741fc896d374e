#!/usr/bin/env python
"""The plain alternative to callqa, as a user writes it by hand: faster-whisper over both
channels of each stereo call, ``vad_filter=True``, beam 5, the same embedded whisper-base int8
model (loaded once), text printed per channel. A whole process, for side-by-side timing:

    /usr/bin/time -v python bench/plain_whisper.py samples/call_11_fee_fast_speech.flac
    /usr/bin/time -v callqa score samples/call_11_fee_fast_speech.flac --no-cache
    python bench/plain_whisper.py --threads 2 samples/*.flac      # a day of calls, one loop

(``bench/side_by_side.py`` runs such pairs in turn and reports medians.)
The model directory is the one callqa assembles from its embedded model packages (no download);
``--model-dir`` points at any other CTranslate2 Whisper model.
"""

from __future__ import annotations

import argparse
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("audio", nargs="+")
    ap.add_argument("--model-dir", help="a CTranslate2 Whisper model (default: callqa's "
                    "embedded whisper-base, assembled on first use)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: faster-whisper's "
                    "default)")
    args = ap.parse_args()
    model_dir = args.model_dir
    if model_dir is None:
        from callqa.asr.whisper.models import ensure_embedded_model

        model_dir = str(ensure_embedded_model())
    from faster_whisper import WhisperModel, decode_audio

    model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=args.threads)
    for audio in args.audio:
        print(f"# {audio}")
        for name, channel in zip(("left", "right"),
                                 decode_audio(audio, sampling_rate=16000, split_stereo=True)):
            segments, _ = model.transcribe(channel, language="zh", vad_filter=True, beam_size=5)
            for s in segments:
                print(f"{name} {s.start:7.2f} {s.end:7.2f} {s.text.strip()}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Audio decoding: formats, sample rates, channel layouts and bad files, generated from a real clip."""

import numpy as np
import pytest
import soundfile as sf

from callqa.asr.audio import SAMPLE_RATE, load_audio, resample
from callqa.errors import AudioError
from conftest import REAL_AUDIO

CLIP = REAL_AUDIO / "funasr_asr_example.wav"


@pytest.fixture(scope="module")
def clip():
    x, sr = sf.read(CLIP, dtype="float32")
    assert sr == 16000 and x.ndim == 1
    return x


def write_av(path, samples, rate, codec):
    """Encode with PyAV (for formats libsndfile cannot write, e.g. AAC in m4a)."""
    import av

    layout = "mono" if samples.shape[1] == 1 else "stereo"
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T), format="fltp",
                                           layout=layout)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def write(path, samples, rate):
    fmt = path.suffix.lower()
    if fmt == ".m4a":
        write_av(path, samples, rate, "aac")
    elif fmt == ".ogg":
        sf.write(path, samples, rate, format="OGG", subtype="VORBIS")
    elif fmt == ".mp3":
        sf.write(path, samples, rate, format="MP3")
    else:
        sf.write(path, samples, rate)


def correlation(a, b):
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".mp3", ".m4a"])
@pytest.mark.parametrize("rate", [8000, 16000])
def test_stereo_formats_and_rates(tmp_path, clip, suffix, rate):
    x = resample(clip, 16000, rate)[:, 0]
    stereo = np.stack([x, 0.25 * x[::-1]], axis=1)  # distinguishable channels
    path = tmp_path / f"call{suffix}"
    write(path, stereo, rate)
    audio = load_audio(path)
    assert audio.source_sample_rate == rate
    assert len(audio.channels) == 2
    # lossy codecs add priming/padding (AAC written without an edit list: 1024 samples)
    slack = 0.3 if suffix == ".m4a" else 0.1
    assert audio.duration_s == pytest.approx(len(clip) / 16000, abs=slack)
    left, right = audio.channels
    assert left.dtype == np.float32
    # each channel stays itself: left correlates with the clip, right with its reverse
    reference = clip if rate == 16000 else resample(x, rate)[:, 0]
    if suffix in (".wav", ".flac"):
        assert correlation(left, reference) > 0.99
    assert np.abs(right).max() < np.abs(left).max()
    assert len(audio.sha256) == 64


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3"])
def test_mono(tmp_path, clip, suffix):
    path = tmp_path / f"trainer{suffix}"
    write(path, clip[:, None], 16000)
    audio = load_audio(path)
    assert len(audio.channels) == 1
    assert audio.duration_s == pytest.approx(len(clip) / 16000, abs=0.1)


def test_44k_is_resampled(tmp_path, clip):
    path = tmp_path / "hifi.wav"
    sf.write(path, resample(clip, 16000, 44100), 44100)
    audio = load_audio(path)
    assert audio.source_sample_rate == 44100
    assert len(audio.channels[0]) == pytest.approx(len(clip), abs=40)
    assert correlation(audio.channels[0], clip) > 0.99


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg"])
def test_three_channels_is_an_error(tmp_path, clip, suffix):
    path = tmp_path / f"conference{suffix}"
    write(path, np.stack([clip, clip, clip], axis=1), 16000)
    with pytest.raises(AudioError, match="3 channels") as err:
        load_audio(path)
    assert err.value.source == str(path)


def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 2), np.float32), 8000)
    with pytest.raises(AudioError, match="empty"):
        load_audio(path)


def test_digital_silence_is_an_error(tmp_path):
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros((8000, 2), np.float32), 8000)
    with pytest.raises(AudioError, match="silence"):
        load_audio(path)


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".m4a", ".ogg"])
def test_garbage_is_an_error(tmp_path, suffix):
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert str(path) in str(err.value)


def test_zero_byte_file_is_an_error(tmp_path):
    path = tmp_path / "zero.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError):
        load_audio(path)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(AudioError, match="no such audio file"):
        load_audio(tmp_path / "nope.wav")


def test_resample_keeps_channels_apart():
    t = np.arange(8000) / 8000
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1).astype(np.float32)
    out = resample(stereo, 8000)
    assert out.shape[1] == 2 and out.shape[0] == pytest.approx(SAMPLE_RATE, abs=20)
    assert np.abs(out[:, 1]).max() == 0
    assert np.abs(out[:, 0]).max() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("rate", [8000, 44100])
def test_resampling_in_blocks_equals_one_frame(clip, rate):
    """load_audio resamples each channel as a stream of blocks (a long call no longer needs
    several full-length copies at once); the stream gives exactly what one frame gives."""
    from callqa.asr.audio import resample_channel

    x = resample(clip, 16000, rate)[:, 0]
    whole = resample_channel(x, rate, block=len(x) + 1)
    for block in (1000, 4096, 1 << 16):
        got = resample_channel(x, rate, block=block)
        assert got.dtype == np.float32 and got.shape == whole.shape
        assert np.array_equal(got, whole), block
    assert abs(len(whole) - len(x) * 16000 / rate) < 64

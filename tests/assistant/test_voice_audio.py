"""WAV reading and writing, format conversion and silence: pure functions, no speech engines."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from carmind.assistant.voice.audio import (
    SAMPLE_RATE,
    decode_pcm,
    float_to_pcm16,
    is_silent,
    loudest_dbfs,
    read_wav,
    resample,
    wav_bytes,
)
from carmind.assistant.voice.errors import AudioError


def _tone(rate: int, seconds: float = 0.5, hz: float = 440.0, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (level * np.sin(2 * math.pi * hz * t)).astype(np.float32)


def _wav(raw: bytes, *, rate: int, channels: int, bits: int, tag: int = 1) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(raw))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(raw))
        + raw
    )


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * rate / samples.size)


def test_16k_mono_round_trips() -> None:
    pcm = float_to_pcm16(_tone(SAMPLE_RATE))
    audio = read_wav(wav_bytes(pcm), name="tone.wav")
    assert (audio.rate, audio.channels) == (SAMPLE_RATE, 1)
    assert audio.to_speech_pcm() == pcm


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_other_rates_and_stereo_become_16k_mono(rate: int) -> None:
    tone = _tone(rate)
    stereo = np.stack([tone, tone], axis=1).reshape(-1)
    data = wav_bytes(float_to_pcm16(stereo), rate=rate, channels=2)
    pcm = read_wav(data).to_speech_pcm()
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    assert abs(samples.size - SAMPLE_RATE * 0.5) <= 1
    assert abs(_peak_hz(samples, SAMPLE_RATE) - 440) < 5
    assert abs(float(np.abs(samples).max()) - 0.5) < 0.02


def test_resampling_removes_what_16k_cannot_hold() -> None:
    high = _tone(44100, hz=12_000)  # above the 8 kHz Nyquist limit of 16 kHz
    out = resample(high, 44100, SAMPLE_RATE)
    assert float(np.abs(out).max()) < 0.01


@pytest.mark.parametrize(
    ("bits", "tag", "encode"),
    [
        (8, 1, lambda x: (np.round(x * 127) + 128).astype(np.uint8).tobytes()),
        (16, 1, lambda x: np.round(x * 32767).astype("<i2").tobytes()),
        (
            24,
            1,
            lambda x: b"".join(
                int(v).to_bytes(3, "little", signed=True) for v in np.round(x * 8388607)
            ),
        ),
        (32, 1, lambda x: np.round(x * 2147483647).astype("<i4").tobytes()),
        (32, 3, lambda x: x.astype("<f4").tobytes()),
    ],
)
def test_sample_formats(bits: int, tag: int, encode: object) -> None:
    tone = _tone(SAMPLE_RATE, seconds=0.1)
    assert callable(encode)
    audio = read_wav(_wav(encode(tone), rate=SAMPLE_RATE, channels=1, bits=bits, tag=tag))
    assert np.allclose(audio.samples[:, 0], tone, atol=0.01)


def test_a_streamed_header_with_no_real_length_reads_what_is_there() -> None:
    data = bytearray(wav_bytes(float_to_pcm16(_tone(22050)), rate=22050))
    data[4:8] = data[40:44] = struct.pack("<I", 0x7FFFF000)  # what espeak-ng --stdout writes
    assert read_wav(bytes(data)).samples.shape[0] == 11025


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a WAV file"),
        (b"ID3\x03 an mp3 file", "not a WAV file"),
        (b"RIFX\0\0\0\0WAVE", "big-endian"),
        (b"RIFF\x04\0\0\0WAVE", "no 'data' chunk"),
        (b"RIFF\x0c\0\0\0WAVEdata\0\0\0\0", "no 'fmt ' chunk"),
        (_wav(b"\0" * 100, rate=16000, channels=1, bits=8, tag=7), "encoding 0x0007"),
        (_wav(b"\0" * 100, rate=100, channels=1, bits=16), "sample rate 100 Hz"),
        (_wav(b"\0" * 100, rate=16000, channels=12, bits=16), "12 channels"),
        (_wav(b"\0" * 100, rate=16000, channels=1, bits=12), "12-bit PCM"),
    ],
)
def test_bad_files_are_named_errors(data: bytes, message: str) -> None:
    with pytest.raises(AudioError, match=message) as caught:
        read_wav(data, name="in.wav")
    assert "in.wav" in str(caught.value)


def test_too_long_a_recording_is_refused() -> None:
    header = _wav(b"", rate=8000, channels=1, bits=8)
    data = header[:-4] + struct.pack("<I", 8000 * 400) + b"\x80" * (8000 * 400)
    with pytest.raises(AudioError, match="at most 300 s"):
        read_wav(data)


def test_raw_pcm_streams_decode_like_wavs() -> None:
    pcm = float_to_pcm16(_tone(22050))
    assert decode_pcm(pcm, rate=22050, width=2, channels=1).samples.shape == (11025, 1)
    with pytest.raises(AudioError, match="sample width 5"):
        decode_pcm(pcm, rate=22050, width=5, channels=1)


def test_silence() -> None:
    assert is_silent(b"\0\0" * SAMPLE_RATE)
    assert is_silent(b"")
    assert loudest_dbfs(b"") == -math.inf
    quiet = float_to_pcm16(_tone(SAMPLE_RATE, level=0.0005))
    assert is_silent(quiet)
    assert not is_silent(float_to_pcm16(_tone(SAMPLE_RATE, level=0.1)))

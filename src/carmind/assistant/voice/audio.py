"""WAV in and out, and the one format speech recognition takes: 16 kHz, mono, 16-bit PCM.

A small RIFF reader instead of the `wave` module: it also reads 24-bit, 32-bit and float WAVs,
WAVE_FORMAT_EXTENSIBLE headers, and the streamed WAVs whose header has no real length (what
`espeak-ng --stdout` writes). Every other sample rate and channel count is converted:
channels are averaged, the rate is changed with an FFT resampler (band-limited, so no aliasing).
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from carmind.assistant.voice.errors import AudioError

SAMPLE_RATE = 16_000
"""The rate pocketsphinx's acoustic model was trained at, in samples per second."""
SAMPLE_WIDTH = 2
"""Bytes per sample: signed 16-bit little-endian PCM."""
CHANNELS = 1

MIN_RATE = 4_000
MAX_RATE = 384_000
MAX_SECONDS = 300.0
"""Longest audio `read_wav` accepts: a spoken command, not a podcast."""
SILENCE_DBFS = -55.0
"""Audio whose loudest 30 ms stays below this level (dB relative to full scale) is silence."""

_PCM = 0x0001
_FLOAT = 0x0003
_EXTENSIBLE = 0xFFFE

Samples = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Audio:
    """Decoded audio: float samples in [-1, 1], shaped (frames, channels), and their rate."""

    samples: Samples
    rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def seconds(self) -> float:
        return float(self.samples.shape[0]) / self.rate

    def to_speech_pcm(self) -> bytes:
        """This audio as 16 kHz mono 16-bit PCM, the recognizer's input."""
        mono = self.samples.mean(axis=1) if self.channels > 1 else self.samples[:, 0]
        return float_to_pcm16(resample(mono, self.rate, SAMPLE_RATE))


def read_wav(data: bytes, *, name: str = "audio") -> Audio:
    """Decode a WAV file's bytes; `name` (the file) goes into the error messages."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        raise AudioError(f"{name} is not a WAV file (expected a RIFF/WAVE header)")
    if data[:4] == b"RIFX":
        raise AudioError(f"{name} is a big-endian WAV (RIFX); expected a little-endian RIFF WAV")
    fmt: tuple[int, int, int, int] | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(data[body : body + size], name)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError(f"{name}: the WAV has no 'fmt ' chunk before its audio")
            # Streamed WAVs (espeak-ng --stdout) give a size past the end: take what is there.
            return _decode(data[body : min(body + size, len(data))], fmt, name)
        pos = body + size + (size & 1)
    raise AudioError(f"{name}: the WAV has no 'data' chunk (no audio in it)")


def decode_pcm(raw: bytes, *, rate: int, width: int, channels: int, name: str = "audio") -> Audio:
    """Raw little-endian integer PCM (a Wyoming audio stream, say) as `Audio`."""
    if width not in (1, 2, 3, 4):
        raise AudioError(f"{name}: sample width {width} bytes is not supported; expected 1 to 4")
    fmt = struct.pack("<HHIIHH", _PCM, channels, rate, rate * width * channels, width, width * 8)
    return _decode(raw, _parse_fmt(fmt, name), name)


def _parse_fmt(body: bytes, name: str) -> tuple[int, int, int, int]:
    if len(body) < 16:
        raise AudioError(
            f"{name}: the WAV's 'fmt ' chunk is {len(body)} bytes; expected 16 or more"
        )
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _EXTENSIBLE and len(body) >= 26:
        (tag,) = struct.unpack_from("<H", body, 24)  # the sub-format GUID starts with the tag
    if tag not in (_PCM, _FLOAT):
        raise AudioError(
            f"{name}: WAV encoding {tag:#06x} is not supported; expected PCM (1) or float (3)"
        )
    if not 1 <= channels <= 8:
        raise AudioError(f"{name}: the WAV has {channels} channels; expected 1 to 8")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(
            f"{name}: sample rate {rate} Hz is not usable; expected {MIN_RATE} to {MAX_RATE} Hz"
        )
    valid = {_PCM: (8, 16, 24, 32), _FLOAT: (32, 64)}[tag]
    if bits not in valid:
        kind = "PCM" if tag == _PCM else "float"
        raise AudioError(f"{name}: {bits}-bit {kind} WAV is not supported; expected {valid} bits")
    return tag, channels, rate, bits


def _decode(raw: bytes, fmt: tuple[int, int, int, int], name: str) -> Audio:
    tag, channels, rate, bits = fmt
    frame_bytes = channels * bits // 8
    frames = len(raw) // frame_bytes
    if frames / rate > MAX_SECONDS:
        raise AudioError(
            f"{name} holds {frames / rate:.0f} s of audio; expected at most {MAX_SECONDS:.0f} s"
        )
    raw = raw[: frames * frame_bytes]
    if tag == _FLOAT:
        values = np.frombuffer(raw, dtype="<f4" if bits == 32 else "<f8").astype(np.float32)
        values = np.nan_to_num(np.clip(values, -1.0, 1.0))
    elif bits == 8:
        values = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif bits == 16:
        values = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8  # sign-extend
        values = ints.astype(np.float32) / 8388608.0
    else:
        values = (np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0).astype(
            np.float32
        )
    return Audio(samples=values.reshape(frames, channels), rate=rate)


def resample(samples: Samples, rate_in: int, rate_out: int) -> Samples:
    """Change the sample rate of a mono signal (FFT method: ideal low-pass, no aliasing)."""
    if rate_in == rate_out or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    n_out = max(1, round(samples.size * rate_out / rate_in))
    spectrum = np.fft.rfft(samples.astype(np.float64))
    keep = min(spectrum.size, n_out // 2 + 1)
    out = np.fft.irfft(spectrum[:keep], n_out) * (n_out / samples.size)
    return out.astype(np.float32)


def float_to_pcm16(samples: Samples) -> bytes:
    scaled = np.round(samples.astype(np.float64) * 32768.0)  # the inverse of pcm16_to_float
    return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()


def pcm16_to_float(pcm: bytes) -> Samples:
    return np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0


def wav_bytes(pcm: bytes, rate: int = SAMPLE_RATE, channels: int = CHANNELS) -> bytes:
    """16-bit PCM samples wrapped in a WAV header."""
    out = io.BytesIO()
    block = channels * SAMPLE_WIDTH
    out.write(b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE")
    out.write(b"fmt " + struct.pack("<IHHIIHH", 16, _PCM, channels, rate, rate * block, block, 16))
    out.write(b"data" + struct.pack("<I", len(pcm)) + pcm)
    return out.getvalue()


def loudest_dbfs(pcm: bytes, rate: int = SAMPLE_RATE, window_s: float = 0.03) -> float:
    """The level of the loudest 30 ms window of 16-bit PCM, dB relative to full scale."""
    samples = pcm16_to_float(pcm).astype(np.float64)
    if samples.size == 0:
        return -math.inf
    n = max(1, int(rate * window_s))
    usable = samples[: samples.size // n * n] if samples.size >= n else samples
    windows = usable.reshape(-1, min(n, usable.size))
    rms = float(np.sqrt((windows**2).mean(axis=1)).max())
    return 20.0 * math.log10(rms) if rms > 0 else -math.inf


def is_silent(pcm: bytes, rate: int = SAMPLE_RATE) -> bool:
    """True when 16-bit PCM holds nothing louder than `SILENCE_DBFS`."""
    return loudest_dbfs(pcm, rate) < SILENCE_DBFS

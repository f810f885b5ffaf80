"""Which pure tones a WAV file holds, window by window (Goertzel filter, no numpy).

Each lab party sends its own tone, so "who heard whom" becomes "which frequencies are in
this party's recording". A tone counts when it carries a fair share of the window's
energy, so silence or noise never reads as a tone.
"""

from __future__ import annotations

import math
import struct
import sys
import wave
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ToneWindow:
    """One analysis window of a recording."""

    start: float  # seconds from the start of the file
    rms_dbfs: float  # loudness of the whole window
    shares: dict[float, float]  # frequency -> share of the window's energy (0..1)
    present: frozenset[float]  # frequencies above the threshold, in a window that is not silent


def read_wav(path: str | Path) -> tuple[int, list[float]]:
    """Read a 16-bit PCM WAV as (sample rate, mono samples in -1..1); channels are averaged.

    baresip fixes the sizes in the header only when it closes the file, so a recording still
    being written declares no data: then everything after the data chunk's header is taken.
    """
    blob = Path(path).read_bytes()
    if blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a WAV file")
    rate = channels = width = 0
    data = b""
    pos = 12
    while pos + 8 <= len(blob):
        kind, size = blob[pos:pos + 4], struct.unpack_from("<I", blob, pos + 4)[0]
        body = pos + 8
        if kind == b"fmt ":
            fmt, channels, rate = struct.unpack_from("<HHI", blob, body)
            width = struct.unpack_from("<H", blob, body + 14)[0] // 8
            if fmt not in (1, 0xFFFE):
                raise ValueError(f"{path}: only PCM WAV files are supported")
        elif kind == b"data":
            end = body + size if 0 < size <= len(blob) - body else len(blob)
            data = blob[body:end]
            break
        pos = body + size + (size & 1)
    if width != 2:
        raise ValueError(f"{path}: only 16-bit PCM WAV files are supported")
    pcm = array("h")
    pcm.frombytes(data[: len(data) // (2 * channels) * 2 * channels])
    if sys.byteorder == "big":
        pcm.byteswap()  # WAV is little-endian
    if channels == 1:
        return rate, [s / 32768.0 for s in pcm]
    frames = len(pcm) // channels
    return rate, [sum(pcm[i * channels:(i + 1) * channels]) / (channels * 32768.0) for i in range(frames)]


def goertzel_share(samples: list[float], rate: int, freq: float) -> float:
    """The share (0..1) of `samples`' energy at `freq`: 1.0 for a pure tone at that frequency."""
    n = len(samples)
    energy = math.fsum(s * s for s in samples)
    if n == 0 or energy == 0.0:
        return 0.0
    # Generalised Goertzel: the frequency need not fall on a DFT bin.
    omega = 2.0 * math.pi * freq / rate
    coeff = 2.0 * math.cos(omega)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    # A sine of amplitude A gives power (A*n/2)^2 and energy A^2*n/2: normalise to 1.
    return min(1.0, 2.0 * power / (n * energy))


def detect_tones(
    path: str | Path,
    freqs: Sequence[float],
    window: float = 1.0,
    threshold: float = 0.1,
    silence_dbfs: float = -50.0,
) -> list[ToneWindow]:
    """Split the file into `window`-second windows and report the tones present in each.

    A frequency is present when its share of the window's energy reaches `threshold` and the
    window is louder than `silence_dbfs`. A last window shorter than half `window` is dropped.
    """
    rate, samples = read_wav(path)
    size = max(1, int(rate * window))
    result: list[ToneWindow] = []
    for offset in range(0, len(samples), size):
        chunk = samples[offset:offset + size]
        if len(chunk) < size // 2:
            break
        mean_square = math.fsum(s * s for s in chunk) / len(chunk)
        dbfs = 10.0 * math.log10(mean_square) if mean_square > 0 else -math.inf
        shares = {f: goertzel_share(chunk, rate, f) for f in freqs}
        loud = dbfs > silence_dbfs
        present = frozenset(f for f, share in shares.items() if loud and share >= threshold)
        result.append(ToneWindow(start=offset / rate, rms_dbfs=dbfs, shares=shares, present=present))
    return result


def tones_heard(path: str | Path, freqs: Sequence[float], min_windows: int = 1, **options: float) -> set[float]:
    """The frequencies present in at least `min_windows` windows of the file."""
    counts = {f: 0 for f in freqs}
    for win in detect_tones(path, freqs, **options):
        for f in win.present:
            counts[f] += 1
    return {f for f, count in counts.items() if count >= min_windows}


def write_tone_wav(path: str | Path, rate: int, seconds: float, parts: list[tuple[float, float]]) -> None:
    """Write a 16-bit mono WAV of summed sines [(freq, amplitude)...]; for tests and demos."""
    n = int(rate * seconds)
    pcm = array("h", (
        max(-32768, min(32767, int(32767 * sum(a * math.sin(2 * math.pi * f * i / rate) for f, a in parts))))
        for i in range(n)
    ))
    if sys.byteorder == "big":
        pcm.byteswap()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())

"""Which pure tones a WAV file holds, window by window (Goertzel filter, no numpy).

Each lab party sends its own tone, so "who heard whom" becomes "which frequencies are in
this party's recording". A tone counts when it carries a fair share of the window's
energy, so silence or noise never reads as a tone.
"""

from __future__ import annotations

import math
import sys
import wave
from array import array
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ToneWindow:
    """One analysis window of a recording."""

    start: float  # seconds from the start of the file
    rms_dbfs: float  # loudness of the whole window
    shares: dict[int, float]  # frequency -> share of the window's energy (0..1)
    present: frozenset[int]  # frequencies above the threshold, in a window that is not silent


def read_wav(path: str | Path) -> tuple[int, list[float]]:
    """Read a 16-bit PCM WAV as (sample rate, mono samples in -1..1); channels are averaged."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV files are supported")
        rate, channels = wav.getframerate(), wav.getnchannels()
        raw = wav.readframes(wav.getnframes())
    pcm = array("h")
    pcm.frombytes(raw[: len(raw) // 2 * 2])
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
    freqs: list[int] | tuple[int, ...],
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


def tones_heard(path: str | Path, freqs: list[int] | tuple[int, ...], min_windows: int = 1, **options: float) -> set[int]:
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

"""Goertzel tone detection on synthetic WAV files."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from homepbx.lab.tones import detect_tones, goertzel_share, read_wav, tones_heard, write_tone_wav

FREQS = (440, 1000, 2000)


def test_pure_tone_is_found_in_every_window(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    write_tone_wav(path, 8000, 3.0, [(440, 0.5)])
    windows = detect_tones(path, FREQS)
    assert len(windows) == 3
    assert all(w.present == {440} for w in windows)
    assert windows[1].shares[440] > 0.95
    assert windows[1].start == pytest.approx(1.0)


def test_two_tones_mixed_are_both_present(tmp_path: Path) -> None:
    path = tmp_path / "mix.wav"
    write_tone_wav(path, 16000, 2.0, [(1000, 0.3), (2000, 0.3)])
    assert tones_heard(path, FREQS) == {1000, 2000}


def test_a_quiet_tone_under_a_loud_one_falls_below_the_threshold(tmp_path: Path) -> None:
    path = tmp_path / "whisper.wav"
    write_tone_wav(path, 8000, 2.0, [(440, 0.8), (2000, 0.05)])
    assert tones_heard(path, FREQS) == {440}
    assert tones_heard(path, FREQS, threshold=0.001) == {440, 2000}


def test_silence_and_near_silence_hold_no_tone(tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    write_tone_wav(silent, 8000, 2.0, [])
    assert [w.present for w in detect_tones(silent, FREQS)] == [frozenset(), frozenset()]
    faint = tmp_path / "faint.wav"
    write_tone_wav(faint, 8000, 2.0, [(440, 0.0005)])  # about -69 dBFS: line noise, not a party
    assert tones_heard(faint, FREQS) == set()


def test_tone_starting_late_is_found_only_in_later_windows(tmp_path: Path) -> None:
    path = tmp_path / "late.wav"
    silence = tmp_path / "s.wav"
    tone = tmp_path / "t.wav"
    write_tone_wav(silence, 8000, 2.0, [])
    write_tone_wav(tone, 8000, 2.0, [(1000, 0.5)])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        for part in (silence, tone):
            with wave.open(str(part), "rb") as src:
                out.writeframes(src.readframes(src.getnframes()))
    assert [sorted(w.present) for w in detect_tones(path, FREQS)] == [[], [], [1000], [1000]]
    assert tones_heard(path, FREQS, min_windows=3) == set()


def test_off_bin_frequencies_and_short_tail(tmp_path: Path) -> None:
    path = tmp_path / "odd.wav"
    write_tone_wav(path, 8000, 1.2, [(1234.5, 0.5)])
    windows = detect_tones(path, (1234.5, 1000), window=0.5)
    assert len(windows) == 2  # the 0.2 s tail is shorter than half a window
    assert all(w.present == {1234.5} for w in windows)


def test_stereo_is_mixed_down(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x10\x00\xf0" * 8000)  # left +4096, right -4096: they cancel
    rate, samples = read_wav(path)
    assert rate == 8000 and len(samples) == 8000 and max(map(abs, samples)) == 0.0


def test_goertzel_share_of_empty_input_is_zero() -> None:
    assert goertzel_share([], 8000, 440) == 0.0
    assert goertzel_share([0.0] * 100, 8000, 440) == 0.0


def test_only_16_bit_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "u8.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(b"\x80" * 800)
    with pytest.raises(ValueError, match="16-bit"):
        read_wav(path)


def test_a_recording_still_being_written_is_read_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "open.wav"
    write_tone_wav(path, 8000, 2.0, [(1000, 0.5)])
    blob = bytearray(path.read_bytes())
    data_at = blob.index(b"data")
    blob[data_at + 4:data_at + 8] = b"\x00\x00\x00\x00"  # what an unclosed baresip file declares
    path.write_bytes(bytes(blob))
    rate, samples = read_wav(path)
    assert rate == 8000 and len(samples) == 16000
    assert tones_heard(path, FREQS) == {1000}


def test_not_a_wav_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(b"hello world, not a riff file")
    with pytest.raises(ValueError, match="not a WAV"):
        read_wav(path)

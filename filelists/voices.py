"""Offline text-to-speech voices for the demo corpus: flite `slt` and eSpeak NG.

Both return 16-bit mono audio at 22,050 Hz (LJSpeech's rate). flite's `slt` voice (a statistical
voice trained on CMU ARCTIC's slt speaker) is far more natural and intelligible but needs the Debian
package `flite`; eSpeak NG is a formant synthesizer that PyPI's `espeakng-loader` ships as a shared
library, so it is always available with this repository's pip install.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import soundfile

SAMPLING_RATE = 22050
FLITE_RATE = 16000
ESPEAK_VOICE = "en-us"
ESPEAK_CHUNK = 60  # sentences per fresh eSpeak process (see synthesize_espeak)


class VoiceUnavailable(RuntimeError):
    """The requested engine cannot run on this machine; the message says how to get it."""


@dataclass(frozen=True)
class VoiceInfo:
    engine: str  # "flite" or "espeak-ng"
    voice: str  # "slt" or "en-us"
    version: str
    native_sampling_rate: int

    def as_dict(self) -> dict:
        return {
            "engine": self.engine,
            "voice": self.voice,
            "version": self.version,
            "native_sampling_rate": self.native_sampling_rate,
        }


def _to_int16(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(audio), -32768, 32767).astype(np.int16)


# ----------------------------------------------------------------------------------------- flite


def flite_binary(install: bool = False) -> str | None:
    """Path of the `flite` program; with install=True, try `apt-get install flite` when root."""
    found = shutil.which("flite")
    if found or not install:
        return found
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    print("flite not found: installing the Debian package 'flite' with apt-get ...", file=sys.stderr)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "flite"]
    for attempt in range(2):  # the second attempt refreshes the package index first
        if attempt == 1:
            subprocess.run(["apt-get", "update", "-qq"], env=environment, capture_output=True, timeout=900)
        try:
            result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            print("could not install flite: apt-get took more than 15 minutes", file=sys.stderr)
            return None
        if result.returncode == 0 and shutil.which("flite"):
            return shutil.which("flite")
    message = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
    print(f"could not install flite with apt-get: {message[0]}", file=sys.stderr)
    return None


def flite_info(binary: str) -> VoiceInfo:
    result = subprocess.run([binary, "--version"], capture_output=True, text=True)
    version = "unknown"
    for line in (result.stdout + result.stderr).splitlines():
        if "version:" in line:
            version = line.split("version:", 1)[1].strip().split(" ")[0]
    return VoiceInfo("flite", "slt", version, FLITE_RATE)


def _flite_one(binary: str, text: str) -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="flite-") as folder:
        wav = Path(folder) / "out.wav"
        subprocess.run([binary, "-voice", "slt", "-t", text, "-o", str(wav)], check=True, capture_output=True)
        audio, rate = soundfile.read(str(wav), dtype="float64")
    if rate != FLITE_RATE:
        raise RuntimeError(f"flite wrote {rate} Hz audio, expected {FLITE_RATE} Hz")
    from scipy.signal import resample_poly  # imported here: scipy.signal takes ~1.5 s to import

    # 22,050 / 16,000 = 441 / 320: a polyphase filter resamples exactly, with no rate drift.
    return _to_int16(resample_poly(audio * 32768.0, 441, 320))


def synthesize_flite(
    texts: Sequence[str], binary: str, workers: int = 2, progress: Callable[[int], None] | None = None
) -> list[np.ndarray]:
    """int16 audio at 22,050 Hz for each text; flite is a separate program, so threads run in parallel."""
    results: list[np.ndarray] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for audio in pool.map(lambda text: _flite_one(binary, text), texts):
            results.append(audio)
            if progress:
                progress(1)
    return results


# ------------------------------------------------------------------------------------- eSpeak NG

_AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: PLAYBACK, RETRIEVAL, SYNCHRONOUS, SYNCH_PLAYBACK
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ESPEAK_RATE_PARAMETER = 1  # espeakRATE: speaking rate in words per minute
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


def _load_espeak():
    """(library, data path) from the espeakng-loader wheel."""
    try:
        import espeakng_loader
    except ImportError as error:
        raise VoiceUnavailable(
            "eSpeak NG needs the PyPI package espeakng-loader (pip install espeakng-loader)"
        ) from error
    library = ctypes.CDLL(espeakng_loader.get_library_path())
    library.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    library.espeak_Initialize.restype = ctypes.c_int
    library.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    library.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.POINTER(ctypes.c_uint),
        ctypes.c_void_p,
    ]
    library.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    library.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
    library.espeak_Info.restype = ctypes.c_char_p
    return library, espeakng_loader.get_data_path()


def espeak_info() -> VoiceInfo:
    library, _ = _load_espeak()
    version = library.espeak_Info(None).decode()
    return VoiceInfo("espeak-ng", ESPEAK_VOICE, version, SAMPLING_RATE)


def _espeak_chunk(texts: Sequence[str], words_per_minute: int | None = None) -> list[np.ndarray]:
    """Synthesize texts in this (fresh) process: initialise eSpeak, collect samples via a callback."""
    library, data_path = _load_espeak()
    rate = library.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), 0)
    if rate != SAMPLING_RATE:
        raise RuntimeError(f"eSpeak NG initialised at {rate} Hz, expected {SAMPLING_RATE} Hz")
    if library.espeak_SetVoiceByName(ESPEAK_VOICE.encode()) != 0:
        raise RuntimeError(f"eSpeak NG has no voice {ESPEAK_VOICE!r} in {data_path}")
    if words_per_minute is not None:
        library.espeak_SetParameter(_ESPEAK_RATE_PARAMETER, words_per_minute, 0)
    pieces: list[np.ndarray] = []

    def collect(samples, n_samples, _events):
        if n_samples > 0:
            pieces.append(np.ctypeslib.as_array(samples, shape=(n_samples,)).copy())
        return 0  # 0: keep synthesizing

    callback = _SYNTH_CALLBACK(collect)  # kept referenced until synthesis ends
    library.espeak_SetSynthCallback(callback)
    results = []
    for text in texts:
        pieces.clear()
        encoded = text.encode("utf-8") + b"\0"
        status = library.espeak_Synth(encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status} on {text!r}")
        library.espeak_Synchronize()
        results.append(np.concatenate(pieces).astype(np.int16) if pieces else np.zeros(0, np.int16))
    library.espeak_Terminate()
    return results


def _espeak_chunk_in_new_process(
    texts: Sequence[str], words_per_minute: int | None = None
) -> list[np.ndarray]:
    """Run `_espeak_chunk` in a new Python interpreter (a plain subprocess, so unlike multiprocessing's
    spawn it never re-imports the caller's __main__ and works from unguarded scripts)."""
    package_root = str(Path(__file__).resolve().parent.parent)
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    with tempfile.TemporaryDirectory(prefix="espeak-") as folder:
        request, response = Path(folder) / "texts.json", Path(folder) / "audio.npz"
        request.write_text(json.dumps({"texts": list(texts), "wpm": words_per_minute}), encoding="utf-8")
        code = "import sys; from filelists.voices import _espeak_worker; _espeak_worker(*sys.argv[1:])"
        command = [sys.executable, "-c", code, str(request), str(response)]
        result = subprocess.run(command, env=environment, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"eSpeak NG worker failed:\n{result.stderr.strip()}")
        with np.load(response) as archive:
            return [archive[f"a{index}"] for index in range(len(texts))]


def _espeak_worker(request: str, response: str) -> None:
    settings = json.loads(Path(request).read_text(encoding="utf-8"))
    audio = _espeak_chunk(settings["texts"], settings["wpm"])
    np.savez(response, **{f"a{index}": samples for index, samples in enumerate(audio)})


def synthesize_espeak(
    texts: Sequence[str],
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    words_per_minute: int | None = None,
) -> list[np.ndarray]:
    """int16 audio at 22,050 Hz for each text (speaking rate `words_per_minute`, eSpeak's default 175).

    eSpeak NG keeps state between sentences, so the same sentence can come out slightly differently
    within one process; a fresh process replaying the same sentences is repeatable. Each fixed chunk
    of ESPEAK_CHUNK sentences therefore runs in its own new process, which makes the corpus identical
    from run to run (and lets `workers` chunks run at once).
    """
    chunks = [list(texts[start : start + ESPEAK_CHUNK]) for start in range(0, len(texts), ESPEAK_CHUNK)]
    results: list[np.ndarray] = []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(chunks)))) as pool:
        speak_chunk = partial(_espeak_chunk_in_new_process, words_per_minute=words_per_minute)
        for chunk_audio in pool.map(speak_chunk, chunks):
            results.extend(chunk_audio)
            if progress:
                progress(len(chunk_audio))
    return results

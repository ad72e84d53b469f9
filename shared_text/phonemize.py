"""eSpeak NG phonemisation through `phonemizer`, using the library shipped by `espeakng_loader`.

No system eSpeak is needed: the shared library and its data directory come from the `espeakng_loader`
wheel. Phonemising is slow (milliseconds per sentence, plus ~0.3 s to start the backend), so one backend is
kept per setting and results are cached in memory (LRU) and, optionally, on disk (SQLite) keyed by the text,
the settings and the eSpeak version. Set ``TTS_PHONEME_CACHE=/path/cache.sqlite`` or call
`set_disk_cache` to enable the disk cache.
"""

import hashlib
import json
import os
import sqlite3
import threading
from functools import cache, lru_cache
from pathlib import Path

_disk_cache_path: Path | None = None
_disk_cache_lock = threading.Lock()


class EspeakUnavailableError(RuntimeError):
    """eSpeak NG could not be loaded from `espeakng_loader`."""


@cache
def configure_espeak() -> str:
    """Point phonemizer at espeakng_loader's library and data; returns the eSpeak version string."""
    try:
        import espeakng_loader
        from phonemizer.backend.espeak.wrapper import EspeakWrapper
    except ImportError as error:
        raise EspeakUnavailableError(
            f"phonemizer and espeakng-loader are needed for espeak phonemisation ({error})"
        ) from error
    data_path = espeakng_loader.get_data_path()
    # The data path must be known before the library is first loaded; the variable covers
    # phonemizer versions without EspeakWrapper.set_data_path.
    os.environ["ESPEAK_DATA_PATH"] = str(data_path)
    EspeakWrapper.set_library(str(espeakng_loader.get_library_path()))
    if hasattr(EspeakWrapper, "set_data_path"):
        EspeakWrapper.set_data_path(str(data_path))
    try:
        version = EspeakWrapper().version
    except Exception as error:  # any loader failure means the same thing to the user
        raise EspeakUnavailableError(
            f"could not load eSpeak NG from {espeakng_loader.get_library_path()}: {error}"
        ) from error
    return ".".join(str(part) for part in version)


@cache
def _backend(language: str, preserve_punctuation: bool, with_stress: bool):
    """One EspeakBackend per setting; creating it starts eSpeak, which is the slow part."""
    configure_espeak()
    from phonemizer.backend import EspeakBackend

    return EspeakBackend(language, preserve_punctuation=preserve_punctuation, with_stress=with_stress)


def set_disk_cache(path: str | os.PathLike | None) -> None:
    """Use (or, with None, stop using) an SQLite file at `path` as a persistent phoneme cache."""
    global _disk_cache_path
    _disk_cache_path = Path(path) if path is not None else None
    if _disk_cache_path is not None:
        _disk_cache_path.parent.mkdir(parents=True, exist_ok=True)
        with _open_disk_cache() as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS phonemes (key TEXT PRIMARY KEY, value TEXT)")


def _open_disk_cache() -> sqlite3.Connection:
    return sqlite3.connect(_disk_cache_path, timeout=30)


def _cache_key(text: str, settings: dict) -> str:
    payload = json.dumps({"text": text, **settings}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _read_disk_cache(key: str) -> str | None:
    with _disk_cache_lock, _open_disk_cache() as connection:
        row = connection.execute("SELECT value FROM phonemes WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def _write_disk_cache(key: str, value: str) -> None:
    with _disk_cache_lock, _open_disk_cache() as connection:
        connection.execute("INSERT OR REPLACE INTO phonemes (key, value) VALUES (?, ?)", (key, value))


def _run_espeak(text: str, language: str, preserve_punctuation: bool, with_stress: bool, strip: bool) -> str:
    """Phonemise like ``phonemizer.phonemize(text, ...)`` on a str: one utterance per non-empty line,
    results joined by newlines."""
    lines = [line for line in text.strip("\n").split("\n") if line.strip()]
    if not lines:
        return ""
    backend = _backend(language, preserve_punctuation, with_stress)
    return "\n".join(backend.phonemize(lines, strip=strip))


@lru_cache(maxsize=65536)
def phonemize_espeak(
    text: str,
    language: str = "en-us",
    preserve_punctuation: bool = True,
    with_stress: bool = True,
    strip: bool = True,
) -> str:
    """IPA for `text` from eSpeak NG (word separator: space), cached in memory and optionally on disk.

    The defaults are VITS's `english_cleaners2` settings.
    """
    settings = {
        "language": language,
        "preserve_punctuation": preserve_punctuation,
        "with_stress": with_stress,
        "strip": strip,
        "espeak": configure_espeak(),
    }
    key = _cache_key(text, settings) if _disk_cache_path is not None else None
    if key is not None:
        cached = _read_disk_cache(key)
        if cached is not None:
            return cached
    phonemes = _run_espeak(text, language, preserve_punctuation, with_stress, strip)
    if key is not None:
        _write_disk_cache(key, phonemes)
    return phonemes


if os.environ.get("TTS_PHONEME_CACHE"):
    set_disk_cache(os.environ["TTS_PHONEME_CACHE"])

"""eSpeak NG via espeakng_loader: english_cleaners2 and the phoneme cache."""

import pytest

from shared_text import (
    EspeakUnavailableError,
    english_cleaners2,
    phonemize_espeak,
    set_disk_cache,
    text_to_sequence,
)
from shared_text.phonemize import configure_espeak


@pytest.fixture(scope="module")
def espeak_version():
    try:
        return configure_espeak()
    except EspeakUnavailableError as error:
        pytest.skip(f"eSpeak NG cannot be loaded from espeakng_loader: {error}")


def test_english_cleaners2_phonemizes_with_stress_and_punctuation(espeak_version):
    phonemes = english_cleaners2("Dr. Smith   said: hello, world!")
    assert phonemes == "dˈɑːktɚ smˈɪθ sˈɛd: həlˈoʊ, wˈɜːld!"
    ids = text_to_sequence("Dr. Smith said: hello, world!", ["english_cleaners2"], symbol_set="vits")
    assert len(ids) == len(phonemes)


def test_phonemize_uses_the_disk_cache(espeak_version, tmp_path):
    cache_file = tmp_path / "phonemes.sqlite"
    set_disk_cache(cache_file)
    try:
        first = phonemize_espeak("a cached sentence")
        phonemize_espeak.cache_clear()
        import sqlite3

        with sqlite3.connect(cache_file) as connection:
            connection.execute("UPDATE phonemes SET value = 'from disk'")
        assert phonemize_espeak("a cached sentence") == "from disk"
        assert first != "from disk"
    finally:
        set_disk_cache(None)
        phonemize_espeak.cache_clear()

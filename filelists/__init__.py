"""Filelists for the five papers: parsing, validation, the LJSpeech split and two offline corpora.

- `filelists.parse`: read `wav_path|text[|speaker_id]` lines into `Utterance` records.
- `filelists.validate`: check lists against audio and symbol sets (`python -m filelists.validate`).
- `filelists.ljspeech`: the 12,500/100/500 LJSpeech split (`python -m filelists.ljspeech`).
- `filelists.demo_corpus`: a small LJSpeech-format corpus built offline with flite or eSpeak NG.
- `filelists.synthetic`: a tone corpus whose per-symbol durations are known, for alignment tests.
"""

from filelists.parse import FilelistError, Utterance, read_filelist, resolve_audio_path

__all__ = ["FilelistError", "Utterance", "read_filelist", "resolve_audio_path"]

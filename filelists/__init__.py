"""Filelists for the five papers: parsing, audio reading, the data checks, synthesis input, corpora.

- `filelists.parse`: read `wav_path|text[|speaker_id]` lines into `Utterance` records.
- `filelists.audio`: the one audio reader (`read_audio`) and WAV writer (`write_wav`) of every folder.
- `filelists.checks`: the data checks training runs before its first step (`check_training_data`,
  `require_clean`); `filelists.validate` runs the same ones (`python -m filelists.validate --model M`).
- `filelists.text_input`: what a synthesis command speaks (`--text`, a text file or a filelist).
- `filelists.ljspeech`: the 12,500/100/500 LJSpeech split (`python -m filelists.ljspeech`).
- `filelists.demo_corpus`: a small LJSpeech-format corpus built offline with flite or eSpeak NG.
- `filelists.synthetic`: a tone corpus whose per-symbol durations are known, for alignment tests.
"""

from filelists.audio import AudioError, read_audio, write_wav
from filelists.checks import DataCheckError, Problem, Report, check_training_data, require_clean
from filelists.parse import FilelistError, Utterance, read_filelist, resolve_audio_path
from filelists.text_input import SynthesisInputError, SynthesisItem, read_synthesis_input

__all__ = [
    "AudioError",
    "DataCheckError",
    "FilelistError",
    "Problem",
    "Report",
    "SynthesisInputError",
    "SynthesisItem",
    "Utterance",
    "check_training_data",
    "read_audio",
    "read_filelist",
    "read_synthesis_input",
    "require_clean",
    "resolve_audio_path",
    "write_wav",
]

"""Precompute the mel spectrograms of filelists, for `train.py --load-mel-from-disk` (DLE's
`scripts/prepare_mels.sh`).

    python prepare_mels.py --dataset-path data/LJSpeech-1.1 \\
        --filelists data/filelists/ljs_audio_text_{train,val,test}_filelist.txt [--mel-dir mels]
        [--output-dir DIR] [--force] [--sampling-rate 22050 --filter-length 1024 ... as train.py]

Each `wav_path|text` line's WAV becomes `<dataset-path>/<mel-dir>/<wav stem>.pt`, a (n_mel, T) float32
natural-log mel saved with `torch.save`: DLE's layout (`LJSpeech-1.1/mels/LJ001-0001.pt`). The mel is the
one training computes on the fly (`data.load_wav`, then `audio.TacotronSTFT`), so a run on the saved
mels sees the same numbers. Each audio list gets a mel list with DLE's name (`audio` -> `mel`:
`ljs_mel_text_train_filelist.txt`; a name without `audio` gets `_mel` before its suffix) beside it or in
--output-dir, with lines `mels/LJ001-0001.pt|text` relative to the same --dataset-path:

    python train.py -m Tacotron2 --load-mel-from-disk -d data/LJSpeech-1.1 \\
        --training-files data/filelists/ljs_mel_text_train_filelist.txt \\
        --validation-files data/filelists/ljs_mel_text_val_filelist.txt ...

Files are written atomically (a stopped run leaves no half-written mel). Mels already on disk are kept
(a second run only fills the gaps) unless --force; `<mel-dir>/mel_settings.json` records the audio
settings, and mels made with other settings are refused instead of silently mixed.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
from tqdm import tqdm

if __package__ in (None, ""):
    # Run as a file (`python prepare_mels.py`): resolve the relative imports below against this
    # folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "tacotron2_waveglow_ngc"

from filelists.audio import AudioError
from filelists.parse import FilelistError, Utterance, read_filelist

from .audio import TacotronSTFT
from .data import DataError, load_wav
from .infra import HelpFormatter, atomic_write, check_output_dir, run_main, save_atomic

SETTINGS_FILE = "mel_settings.json"
AUDIO_SETTINGS = (
    "max_wav_value", "sampling_rate", "filter_length", "hop_length", "win_length", "n_mel_channels",
    "mel_fmin", "mel_fmax",
)  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter, allow_abbrev=False)
    parser.add_argument(
        "-d", "--dataset-path", default="./", help="root of the relative paths in the filelists"
    )
    parser.add_argument(
        "--filelists", nargs="+", required=True, help="wav_path|text filelists whose WAVs to convert"
    )
    parser.add_argument(
        "--mel-dir", default="mels", help="folder of the .pt mels, relative to --dataset-path unless absolute"
    )
    parser.add_argument(
        "--output-dir", default=None, help="folder for the mel filelists (default: beside each audio list)"
    )
    parser.add_argument("--force", action="store_true", help="recompute mels that already exist")
    audio = parser.add_argument_group("audio: as train.py's flags, DLE's defaults")
    audio.add_argument("--max-wav-value", type=float, default=32768.0, help="int16 full scale")
    audio.add_argument("--sampling-rate", type=int, default=22050, help="Hz; WAVs at another rate are errors")
    audio.add_argument("--filter-length", type=int, default=1024, help="FFT size")
    audio.add_argument("--hop-length", type=int, default=256, help="samples between frames")
    audio.add_argument("--win-length", type=int, default=1024, help="Hann window length")
    audio.add_argument("--n-mel-channels", type=int, default=80, help="mel bands")
    audio.add_argument("--mel-fmin", type=float, default=0.0, help="lowest mel filter edge, Hz")
    audio.add_argument("--mel-fmax", type=float, default=8000.0, help="highest mel filter edge, Hz")
    return parser.parse_args(argv)


def mel_list_name(audio_list: Path) -> str:
    """DLE's mel list name: ljs_audio_text_train_filelist.txt -> ljs_mel_text_train_filelist.txt."""
    if "audio" in audio_list.name:
        return audio_list.name.replace("audio", "mel", 1)
    return f"{audio_list.stem}_mel{audio_list.suffix}"


def mel_path_for(utterance: Utterance, mel_dir: Path) -> Path:
    return mel_dir / f"{Path(utterance.raw_audio_path).stem}.pt"


def list_entry(mel_path: Path, dataset_path: Path) -> str:
    """The mel's path as the mel list writes it: relative to the dataset path when inside it."""
    try:
        return mel_path.resolve().relative_to(dataset_path.resolve()).as_posix()
    except ValueError:
        return str(mel_path.resolve())


def check_settings(mel_dir: Path, settings: dict, force: bool) -> None:
    """Refuse a mel folder made with other audio settings (unless --force, which rewrites it)."""
    recorded_file = mel_dir / SETTINGS_FILE
    if force or not recorded_file.is_file():
        return
    recorded = json.loads(recorded_file.read_text(encoding="utf-8"))
    differences = [
        f"{key} {recorded.get(key)} (now {value})"
        for key, value in settings.items()
        if recorded.get(key) != value
    ]
    if differences:
        raise DataError(
            f"{recorded_file}: the mels in {mel_dir} were made with "
            + ", ".join(differences)
            + "; pass --force to recompute them all, or choose another --mel-dir"
        )


def prepare_mels(args: argparse.Namespace) -> list[Path]:
    """Write every missing mel and one mel list per audio list; returns the mel lists' paths."""
    dataset_path = Path(args.dataset_path)
    mel_dir = Path(args.mel_dir) if Path(args.mel_dir).is_absolute() else dataset_path / args.mel_dir
    settings = {key: getattr(args, key) for key in AUDIO_SETTINGS}
    # Every place written to is checked before the first mel is computed.
    check_output_dir(mel_dir, "--mel-dir")
    for name in args.filelists:
        check_output_dir(Path(args.output_dir) if args.output_dir else Path(name).parent, "--output-dir")
    lists = {Path(name): read_filelist(name, dataset_path) for name in args.filelists}

    # One mel per WAV stem: two different WAVs with the same stem would overwrite each other's mel.
    owner: dict[Path, Utterance] = {}
    for utterances in lists.values():
        for utterance in utterances:
            mel_path = mel_path_for(utterance, mel_dir)
            first = owner.setdefault(mel_path, utterance)
            if first.audio_path.resolve() != utterance.audio_path.resolve():
                raise DataError(
                    f"{utterance.source}:{utterance.line_number}: {utterance.audio_path} and "
                    f"{first.audio_path} ({first.source}:{first.line_number}) would both be saved as "
                    f"{mel_path}"
                )
    check_settings(mel_dir, settings, args.force)
    atomic_write(
        mel_dir / SETTINGS_FILE, lambda stream: stream.write((json.dumps(settings, indent=1) + "\n").encode())
    )

    stft = TacotronSTFT(
        args.filter_length, args.hop_length, args.win_length, args.n_mel_channels, args.sampling_rate,
        args.mel_fmin, args.mel_fmax,
    )  # fmt: skip
    todo = [(path, utterance) for path, utterance in owner.items() if args.force or not path.is_file()]
    kept = len(owner) - len(todo)
    with torch.no_grad():
        for mel_path, utterance in tqdm(todo, desc="mels", unit="wav", dynamic_ncols=True):
            audio = load_wav(utterance, args.sampling_rate, args.max_wav_value)
            mel = stft.mel_spectrogram(audio.unsqueeze(0)).squeeze(0)
            save_atomic(mel, mel_path)
    print(f"{len(todo)} mels written, {kept} already there (--force recomputes them), in {mel_dir}")

    written = []
    for audio_list, utterances in lists.items():
        output_dir = Path(args.output_dir) if args.output_dir else audio_list.parent
        mel_list = output_dir / mel_list_name(audio_list)
        if mel_list.resolve() == audio_list.resolve():
            raise DataError(f"{audio_list}: its mel list would overwrite it; pass --output-dir")
        lines = []
        for utterance in utterances:
            speaker = "" if utterance.speaker_id is None else f"|{utterance.speaker_id}"
            lines.append(
                f"{list_entry(mel_path_for(utterance, mel_dir), dataset_path)}|{utterance.text}{speaker}\n"
            )
        atomic_write(mel_list, lambda stream, lines=lines: stream.write("".join(lines).encode("utf-8")))
        print(f"wrote {mel_list} ({len(lines)} lines)")
        written.append(mel_list)
    return written


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(lambda: prepare_mels(args), errors=(DataError, FilelistError, AudioError))


if __name__ == "__main__":
    sys.exit(main())

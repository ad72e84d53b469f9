"""Markdown tables of aggregate scores: one system (`scores.md`) or several side by side.

`merge_tables(["outputs/tacotron2", "outputs/flowtron/scores.json", scores_dict])` gives one table
with a row per system, in the order given.
"""

import json
from collections.abc import Iterable
from pathlib import Path

COLUMNS = (
    ("System", None),
    ("Utterances", None),
    ("WER generic LM", "wer_generic_lm"),
    ("CER generic LM", "cer_generic_lm"),
    ("WER corpus LM", "wer_corpus_lm"),
    ("CER corpus LM", "cer_corpus_lm"),
    ("MCD (dB)", "mcd_mean_db"),
    ("RTF", "rtf"),
)
UNAVAILABLE = "n/a"


def load_scores(source: str | Path | dict) -> dict:
    """A scores.json content: given as a dict, a scores.json path, or the folder holding one."""
    if isinstance(source, dict):
        return source
    path = Path(source)
    if path.is_dir():
        path = path / "scores.json"
    if not path.is_file():
        raise FileNotFoundError(f"no scores.json at {path} (run `python -m evaluation --wavs ...` first)")
    with open(path, encoding="utf-8") as file:
        scores = json.load(file)
    if "aggregate" not in scores or "counts" not in scores:
        raise ValueError(f"{path} is not a scores.json written by evaluation (no 'aggregate'/'counts')")
    return scores


def _number(value: float | None, digits: int) -> str:
    return UNAVAILABLE if value is None else f"{value:.{digits}f}"


def _utterances(counts: dict) -> str:
    # WAVs that could not be read are left out of every metric; the table must not hide them.
    unreadable = counts.get("unreadable", 0)
    return f"{counts['scored']} (+{unreadable} unreadable)" if unreadable else str(counts["scored"])


def aggregate_row(scores: dict) -> list[str]:
    """The table cells of one system, in COLUMNS order."""
    aggregate = scores["aggregate"]
    mcd = _number(aggregate["mcd_mean_db"], 2)
    if aggregate["mcd_std_db"] is not None:
        mcd += f" ± {aggregate['mcd_std_db']:.2f}"
    return [
        str(scores["label"]).replace("|", "\\|"),
        _utterances(scores["counts"]),
        *(
            _number(aggregate[key], 3)
            for key in ("wer_generic_lm", "cer_generic_lm", "wer_corpus_lm", "cer_corpus_lm")
        ),
        mcd,
        _number(aggregate["rtf"], 3),
    ]


def aggregate_table(all_scores: Iterable[dict]) -> str:
    """A Markdown table with one row per scores dict."""
    header = [name for name, _ in COLUMNS]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(aggregate_row(scores)) + " |" for scores in all_scores]
    return "\n".join(lines)


def merge_tables(sources: Iterable[str | Path | dict]) -> str:
    """One Markdown table from several systems' scores (dicts, scores.json paths or their folders).
    A note follows when the systems were scored against different filelists."""
    all_scores = [load_scores(source) for source in sources]
    if not all_scores:
        raise ValueError("merge_tables needs at least one scores.json")
    table = aggregate_table(all_scores)
    filelists = sorted({scores["filelist"] for scores in all_scores})
    if len(filelists) > 1:
        table += "\n\nNote: these rows were scored against different filelists: " + ", ".join(filelists)
    return table

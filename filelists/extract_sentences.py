"""Extract `demo_sentences.txt` from Jane Austen's six novels (public domain), as shipped in Debian.

    apt-get install r-cran-janeaustenr        # the novels, in R's lazy-load data format
    pip install rdata                         # reads R's serialization without R itself
    python -m filelists.extract_sentences --output filelists/demo_sentences.txt
    python -m filelists.extract_sentences --min-chars 15 --max-chars 50 --count 3000 \
        --output filelists/short_sentences.txt      # 1-3.5 s each, for the speaking recipes

The novels are stored in `janeaustenr/data/Rdata.rdb` (zlib-compressed R objects) indexed by
`Rdata.rdx` (an RDS file giving each object's offset and length). Each novel is a character vector of
text lines. Paragraphs are joined, split into sentences, normalised (italic underscores and double
quotes dropped, `--` dashes turned into commas, spacing tidied) and kept when they are 40-160
characters of plain letters and `,.;:!?'-`, which is 2-10 s of speech. The same number of sentences
is then taken at evenly spaced positions from each novel, so the output is identical on every machine.
The result is committed, so building the demo corpus needs neither the Debian package nor rdata.
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
import warnings
import zlib
from pathlib import Path

DEFAULT_RDATA_DIR = Path("/usr/lib/R/site-library/janeaustenr/data")
NOVELS = (  # R object name, title, first published
    ("sensesensibility", "Sense and Sensibility", 1811),
    ("prideprejudice", "Pride and Prejudice", 1813),
    ("mansfieldpark", "Mansfield Park", 1814),
    ("emma", "Emma", 1815),
    ("northangerabbey", "Northanger Abbey", 1818),
    ("persuasion", "Persuasion", 1818),
)
MIN_CHARS, MAX_CHARS = 40, 160
DEFAULT_COUNT = 420

_ABBREVIATIONS = ("Mr", "Mrs", "Dr", "St", "Col", "Capt", "Gen", "Lt")
_ABBREVIATION_DOT = re.compile(rf"\b({'|'.join(_ABBREVIATIONS)})\.")
_ALLOWED = re.compile(r"^[A-Z][A-Za-z ,.;:!?'-]*[.!?]$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_SHOUTING = re.compile(r"\b[A-Z]{2,}\b")
_AVOID = ("bitch",)  # period usage for a dog, but jarring out of context in a demo corpus


def read_novels(rdata_dir: str | Path = DEFAULT_RDATA_DIR) -> dict[str, list[str]]:
    """R object name -> lines of the novel, read from janeaustenr's Rdata.rdb/.rdx."""
    import rdata  # only this extraction script needs it

    rdata_dir = Path(rdata_dir)
    index_path, blob_path = rdata_dir / "Rdata.rdx", rdata_dir / "Rdata.rdb"
    for path in (index_path, blob_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: install the Debian package r-cran-janeaustenr")
    with warnings.catch_warnings():  # rdata warns that .rdx is not a usual RDS extension
        warnings.simplefilter("ignore")
        index = rdata.conversion.convert(rdata.parser.parse_file(index_path))
    blob = blob_path.read_bytes()
    novels = {}
    for name, (offset, length) in index["variables"].items():
        record = blob[int(offset) : int(offset) + int(length)]
        # Each record: 4-byte big-endian uncompressed size, then a zlib stream of R serialization.
        (size,) = struct.unpack(">I", record[:4])
        serialized = zlib.decompress(record[4:])
        assert len(serialized) == size, f"{blob_path}: object {name} has a bad length"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lines = rdata.conversion.convert(rdata.parser.parse_data(serialized))
        novels[str(name)] = [str(line) for line in lines]
    return novels


def paragraphs(lines: list[str]) -> list[str]:
    """Join the wrapped lines of a novel into paragraphs (blank lines separate them)."""
    result, current = [], []
    for line in [*lines, ""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            result.append(" ".join(current))
            current = []
    return result


def normalise(text: str) -> str:
    """Plain-ASCII, speakable punctuation: no italics, no double quotes, dashes as commas."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = text.replace("_", "").replace('"', "")
    text = re.sub(r"\s*--+\s*", ", ", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)  # ", ," left by a dash next to a comma
    text = re.sub(r",([.!?])", r"\1", text)
    return text.strip(" ,;:'")


def sentences(paragraph: str) -> list[str]:
    """Split a paragraph at . ! ? followed by a capital, not after Mr. Mrs. and the like."""
    protected = _ABBREVIATION_DOT.sub(r"\1<dot>", paragraph)
    return [part.replace("<dot>", ".") for part in _SENTENCE_END.split(protected)]


def is_usable(sentence: str, min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS) -> bool:
    if not min_chars <= len(sentence) <= max_chars or not _ALLOWED.match(sentence):
        return False
    if _SHOUTING.search(sentence) or "CHAPTER" in sentence.upper().split(" ")[0]:
        return False
    if any(word in sentence.lower() for word in _AVOID):
        return False
    return sentence.count("'") <= 2 and "  " not in sentence


def candidate_sentences(
    lines: list[str], min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS
) -> list[str]:
    found, seen = [], set()
    for paragraph in paragraphs(lines):
        for sentence in sentences(normalise(paragraph)):
            sentence = normalise(sentence)
            if is_usable(sentence, min_chars, max_chars) and sentence not in seen:
                seen.add(sentence)
                found.append(sentence)
    return found


def evenly_spaced(items: list[str], count: int) -> list[str]:
    if count >= len(items):
        return list(items)
    return [items[(index * len(items)) // count] for index in range(count)]


def extract(
    rdata_dir: str | Path = DEFAULT_RDATA_DIR,
    count: int = DEFAULT_COUNT,
    min_chars: int = MIN_CHARS,
    max_chars: int = MAX_CHARS,
) -> list[tuple[str, str]]:
    """[(title, sentence)]: `count` sentences of min_chars-max_chars characters, an equal share from each
    novel, in novel order."""
    novels = read_novels(rdata_dir)
    per_novel = [count // len(NOVELS) + (index < count % len(NOVELS)) for index in range(len(NOVELS))]
    chosen = []
    for (name, title, _year), share in zip(NOVELS, per_novel):
        found = candidate_sentences(novels[name], min_chars, max_chars)
        chosen += [(title, sentence) for sentence in evenly_spaced(found, share)]
    return chosen


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m filelists.extract_sentences",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rdata-dir", default=str(DEFAULT_RDATA_DIR), help="janeaustenr's data folder")
    parser.add_argument("--output", default=str(Path(__file__).with_name("demo_sentences.txt")))
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="number of sentences")
    parser.add_argument("--min-chars", type=int, default=MIN_CHARS, help="shortest sentence kept")
    parser.add_argument("--max-chars", type=int, default=MAX_CHARS, help="longest sentence kept")
    args = parser.parse_args(argv)
    try:
        chosen = extract(args.rdata_dir, args.count, args.min_chars, args.max_chars)
    except (FileNotFoundError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    titles = ", ".join(f"{title} ({year})" for _name, title, year in NOVELS)
    span = f"{args.min_chars}-{args.max_chars}"
    header = [
        "# Demo corpus sentences: public domain (the author died in 1817; texts from Project Gutenberg",
        "# as packaged in Debian r-cran-janeaustenr, whose R code is MIT-licensed).",
        f"# Source: Jane Austen, {titles}.",
        f"# {len(chosen)} sentences, {span} characters, evenly spaced through each novel;",
        "# made by filelists/extract_sentences.py (italics and double quotes dropped, dashes as commas).",
        "# Format: one sentence per line; lines starting with # are comments.",
    ]
    Path(args.output).write_text(
        "\n".join(header + [sentence for _title, sentence in chosen]) + "\n", encoding="utf-8"
    )
    print(f"wrote {len(chosen)} sentences to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

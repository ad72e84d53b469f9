"""Real-time factor from the timings synthesis scripts write beside their WAVs.

Definition: RTF = synthesis seconds / seconds of audio produced; lower is faster, below 1 is faster
than real time. Aggregated over a folder it is the ratio of the sums (total synthesis time over
total audio), not the mean of per-utterance ratios, so short utterances do not dominate.

`timings.json` in the WAV folder maps utterance id (the WAV's file stem) to wall-clock synthesis
seconds, e.g. `{"LJ001-0001": 0.84, "LJ001-0002": 0.31}`. What the seconds include (text front end,
acoustic model, vocoder, device sync) is the writer's choice; keep it the same across systems.
Without the file, RTF is reported as unavailable (None).
"""

import json
import math
from pathlib import Path

TIMINGS_FILENAME = "timings.json"
DEFINITION = (
    "RTF = synthesis seconds / audio seconds (lower is faster); aggregate = sum of synthesis seconds / "
    f"sum of audio seconds over utterances listed in {TIMINGS_FILENAME}"
)


class TimingsError(ValueError):
    """A malformed timings.json; the message names the file and the offending key."""


def load_timings(wav_dir: str | Path) -> dict[str, float] | None:
    """Utterance id -> synthesis seconds from `wav_dir/timings.json`, or None when there is none."""
    path = Path(wav_dir) / TIMINGS_FILENAME
    if not path.is_file():
        return None
    try:
        timings = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise TimingsError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(timings, dict):
        raise TimingsError(
            f"{path}: expected an object mapping utterance id to seconds, found a {type(timings).__name__}"
        )
    for key, seconds in timings.items():
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise TimingsError(f"{path}: {key!r} must map to non-negative seconds, found {seconds!r}")
    return {key: float(seconds) for key, seconds in timings.items()}


def real_time_factor(synthesis_seconds: float, audio_seconds: float) -> float | None:
    """synthesis seconds / audio seconds, None for empty audio."""
    return synthesis_seconds / audio_seconds if audio_seconds > 0 else None

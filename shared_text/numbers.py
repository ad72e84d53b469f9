"""English number normalisation: Tacotron 2's `english_cleaners` rules and Flowtron's variant.

Both follow keithito/tacotron and read numbers with `inflect`; the exact words therefore depend on the
inflect version (the parity fixtures were made with inflect 7.6). The two variants differ on purpose:

* Tacotron 2 (`normalize_numbers`): dollar amounts are rewritten as digits + unit and read later by the
  integer rule; integers keep inflect's hyphens ("eighty-six").
* Flowtron (`normalize_numbers_flowtron`): dollar amounts are read immediately (and may carry "million"
  etc.), `<number><f|c|k|d>` becomes a unit word, `'s` after a number pluralises it ("eighties"), and
  integers lose inflect's hyphens and commas (except in the measurement rule).
"""

import re
from functools import cache

_NUMBER_WITH_COMMAS = re.compile(r"([0-9][0-9,]+[0-9])")
_DECIMAL = re.compile(r"([0-9]+\.[0-9]+)")
_POUNDS = re.compile(r"£([0-9,]*[0-9]+)")
_DOLLARS = re.compile(r"\$([0-9.,]*[0-9]+)")
_ORDINAL = re.compile(r"[0-9]+(st|nd|rd|th)")
_INTEGER = re.compile(r"[0-9]+")

_LARGE_NUMBER_WORDS = "(trillion|billion|million|thousand|hundred)"
# The optional space is part of the match, so the trailing space of the replacement does not double it.
_DOLLARS_FLOWTRON = re.compile(rf"\$([0-9.,]*[0-9]+[ ]?{_LARGE_NUMBER_WORDS}?)", re.IGNORECASE)
_MEASUREMENT_UNITS = {"f": "fahrenheit", "c": "celsius", "k": "thousand", "d": "d"}
_MEASUREMENT = re.compile(r"([0-9.,]*[0-9]+(\s)?(f|c|k|d)\b)", re.IGNORECASE)
_INTEGER_OR_PLURAL = re.compile(r"[0-9]+'s|[0-9]+")

# Flowtron's clock times: "10:30am" -> "10 30 AM", "7pm" -> "7 PM", "hh:mm" -> "hh mm".
_CLOCK_WITH_MERIDIEM = re.compile(r"(2[0-3]|[01]?[0-9]):?([0-5][0-9])?\s*([AaPp][Mm]\b)")
_CLOCK = re.compile(r"(2[0-3]|[01]?[0-9]):([0-5][0-9])?")


@cache
def _engine():
    # inflect takes seconds to import (typeguard instruments it); only text with digits needs it, so
    # commands that never meet a number do not pay for it.
    import inflect

    return inflect.engine()


def number_to_words(number: int | str, **inflect_options) -> str:
    """Spell `number` with inflect (e.g. ``andword=''`` to drop "and")."""
    return _engine().number_to_words(number, **inflect_options)


def _without_commas(match: re.Match) -> str:
    return match.group(1).replace(",", "")


def _decimal_point_as_word(match: re.Match) -> str:
    return match.group(1).replace(".", " point ")


def _ordinal_as_words(match: re.Match) -> str:
    return number_to_words(match.group(0))


def _units(count: int, singular: str) -> str:
    return singular if count == 1 else singular + "s"


def _split_amount(amount: str) -> tuple[int, int] | None:
    """Dollars and cents of "d", "d.c" or ".c"; None if the amount has more than one point."""
    parts = amount.split(".")
    if len(parts) > 2:
        return None
    dollars = int(parts[0]) if parts[0] else 0
    cents = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    return dollars, cents


def _say_amount(dollars: int, cents: int, say) -> str:
    """Dollar/cent phrase; `say` turns each count into text (digits or words)."""
    if dollars and cents:
        return f"{say(dollars)} {_units(dollars, 'dollar')}, {say(cents)} {_units(cents, 'cent')}"
    if dollars:
        return f"{say(dollars)} {_units(dollars, 'dollar')}"
    if cents:
        return f"{say(cents)} {_units(cents, 'cent')}"
    return "zero dollars"


def _dollars_as_digits(match: re.Match) -> str:
    amount = match.group(1)
    dollars_and_cents = _split_amount(amount)
    if dollars_and_cents is None:
        return amount + " dollars"
    return _say_amount(*dollars_and_cents, say=str)


def read_year_like(number: int) -> str | None:
    """The year-style reading used for 1001..2999 (``None`` outside that range).

    2000 -> "two thousand", 2001..2009 -> "two thousand n", multiples of 100 -> "n hundred", otherwise
    digit pairs via inflect ``group=2`` ("eighteen eighty-six", "nineteen oh five").
    """
    if not 1000 < number < 3000:
        return None
    if number == 2000:
        return "two thousand"
    if 2000 < number < 2010:
        return "two thousand " + number_to_words(number % 100)
    if number % 100 == 0:
        return number_to_words(number // 100) + " hundred"
    return number_to_words(number, andword="", zero="oh", group=2).replace(", ", " ")


def read_integer(number: int) -> str:
    """Tacotron 2's integer reading: year style for 1001..2999, else inflect without "and"."""
    year_reading = read_year_like(number)
    if year_reading is not None:
        return year_reading
    return number_to_words(number, andword="")


def _integer_as_words(match: re.Match) -> str:
    return read_integer(int(match.group(0)))


def normalize_numbers(text: str) -> str:
    """Spell out numbers as Tacotron 2's `english_cleaners` does (expects lower-case text).

    Order matters and follows the original: digit-group commas, pounds, dollars, decimals, ordinals,
    then the remaining integers.
    """
    text = _NUMBER_WITH_COMMAS.sub(_without_commas, text)
    text = _POUNDS.sub(r"\1 pounds", text)
    text = _DOLLARS.sub(_dollars_as_digits, text)
    text = _DECIMAL.sub(_decimal_point_as_word, text)
    text = _ORDINAL.sub(_ordinal_as_words, text)
    text = _INTEGER.sub(_integer_as_words, text)
    return text


# ----------------------------------------------------------------------------------------------------
# Flowtron's variant
# ----------------------------------------------------------------------------------------------------


def _dollars_as_words_flowtron(match: re.Match) -> str:
    amount = match.group(1)
    number, _, scale = amount.partition(" ")
    # Kept as in the original: "in" is a substring test against the alternation pattern string.
    if scale and scale in _LARGE_NUMBER_WORDS:
        return f"{number} {scale} dollars "
    dollars_and_cents = _split_amount(number)
    if dollars_and_cents is None:
        return amount + " dollars"
    if dollars_and_cents == (0, 0):
        return "zero dollars"  # the original's only reading without a trailing space
    return _say_amount(*dollars_and_cents, say=number_to_words) + " "


def _measurement_as_words(match: re.Match) -> str:
    digits = re.search(r"\d+(?:\.\d+)?", match.group(0))
    unit = "".join(match.group(0)[digits.end() :].split()).lower()
    return f"{number_to_words(digits.group(0))} {_MEASUREMENT_UNITS[unit]}"


def read_integer_flowtron(number: int) -> str:
    """Flowtron's integer reading: as Tacotron 2's, but without inflect's hyphens and commas.

    The 2001..2009 and "n hundred" year branches are returned untouched, as in the original.
    """
    year_reading = read_year_like(number)
    if year_reading is not None:
        if 2000 < number < 2010 or number % 100 == 0:
            return year_reading
        return year_reading.replace("-", " ")
    return number_to_words(number, andword="").replace("-", " ").replace(",", "")


def _integer_as_words_flowtron(match: re.Match) -> str:
    token = match.group(0)
    is_plural = token.endswith("'s")
    words = read_integer_flowtron(int(token[:-2] if is_plural else token))
    # "1980's" -> "nineteen eighties"; the original silently drops "'s" after any other number word.
    if is_plural and words.endswith("y"):
        words = words[:-1] + "ies"
    return words


def normalize_numbers_flowtron(text: str) -> str:
    """Spell out numbers as Flowtron's `flowtron_cleaners` does (case is kept)."""
    text = _NUMBER_WITH_COMMAS.sub(_without_commas, text)
    text = _POUNDS.sub(r"\1 pounds", text)
    text = _DOLLARS_FLOWTRON.sub(_dollars_as_words_flowtron, text)
    text = _DECIMAL.sub(_decimal_point_as_word, text)
    text = _ORDINAL.sub(_ordinal_as_words, text)
    text = _MEASUREMENT.sub(_measurement_as_words, text)
    text = _INTEGER_OR_PLURAL.sub(_integer_as_words_flowtron, text)
    return text


def _clock_with_meridiem(match: re.Match) -> str:
    hours, minutes, meridiem = match.groups()
    spoken = hours
    if minutes not in (None, "0", "00"):
        spoken += " " + minutes
    # Only a lower-case first letter is recognised ("AM" is dropped), kept for parity with the original.
    if meridiem[0] == "a":
        spoken += " AM"
    elif meridiem[0] == "p":
        spoken += " PM"
    return spoken


def expand_clock_times(text: str) -> str:
    """Flowtron's time rule: "10:30am" -> "10 30 AM", "7pm" -> "7 PM", then "hh:mm" -> "hh mm"."""
    text = _CLOCK_WITH_MERIDIEM.sub(_clock_with_meridiem, text)
    return _CLOCK.sub(r"\1 \2", text)

"""Number, abbreviation and clock-time normalisation (Tacotron 2 and Flowtron variants)."""

import pytest

from shared_text import english_cleaners, expand_clock_times, normalize_numbers, normalize_numbers_flowtron
from shared_text.abbreviations import expand_abbreviations, expand_safe_abbreviations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("i have 3 cats", "i have three cats"),
        ("103 men", "one hundred three men"),  # andword='': no "and"
        ("42", "forty-two"),
        ("it cost 1,250,000 dollars", "it cost one million, two hundred fifty thousand dollars"),
        ("pi is 3.14", "pi is three point fourteen"),
        ("the 21st century", "the twenty-first century"),
        ("the 2nd and 3rd", "the second and third"),
        ("£100", "one hundred pounds"),
        ("$5", "five dollars"),
        ("$3.50", "three dollars, fifty cents"),
        ("$1.01", "one dollar, one cent"),
        ("$0.99", "ninety-nine cents"),
        ("$0", "zero dollars"),
    ],
)
def test_tacotron2_numbers(text, expected):
    assert normalize_numbers(text) == expected


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        ("1000", "one thousand"),  # outside the 1001..2999 year range
        ("1886", "eighteen eighty-six"),
        ("1905", "nineteen oh five"),
        ("1900", "nineteen hundred"),
        ("2000", "two thousand"),
        ("2007", "two thousand seven"),
        ("2010", "twenty ten"),
        ("3000", "three thousand"),
    ],
)
def test_tacotron2_years(year, expected):
    assert normalize_numbers(year) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", "forty two"),  # Flowtron removes inflect's hyphens ...
        ("in 1886", "in eighteen eighty six"),
        ("1,250 dollars", "twelve fifty dollars"),
        ("72F", "seventy-two fahrenheit"),  # ... except in the measurement rule
        ("20 C", "twenty celsius"),
        ("5k run", "five thousand run"),
        ("the 1980's", "the nineteen eighties"),
        ("the 2000's", "the two thousand"),  # "'s" dropped when the reading does not end in "y"
        ("$3.50 at", "three dollars, fifty cents at"),
        ("$2 million", "two million dollars "),
        ("$0", "zero dollars"),
    ],
)
def test_flowtron_numbers(text, expected):
    assert normalize_numbers_flowtron(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10:30am", "10 30 AM"),
        ("7pm", "7 PM"),
        ("12:00am", "12 AM"),
        ("10:30AM", "10 30"),  # the original only recognises a lower-case "a"/"p"
        ("at 14:05 today", "at 14 05 today"),
    ],
)
def test_flowtron_clock_times(text, expected):
    assert expand_clock_times(text) == expected


def test_abbreviations_need_the_full_stop_and_ignore_case():
    assert expand_abbreviations("Dr. Who met dr smith and Mrs. Lee at St. Paul") == (
        "doctor Who met dr smith and misess Lee at saint Paul"
    )
    assert expand_safe_abbreviations("No. 7 and Dr. No") == "number 7 and Dr. No"


def test_english_cleaners_whole_pipeline_keeps_outer_spaces():
    cleaned = english_cleaners("  Mr.  Smith   paid $3.50 on Jan. 5th, 1999.  ")
    assert cleaned == " mister smith paid three dollars, fifty cents on jan. fifth, nineteen ninety-nine. "
    assert english_cleaners("Café naïve") == "cafe naive"

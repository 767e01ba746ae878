"""arXiv IDs: the declared pattern against a plain reference implementation of arXiv's rules."""

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import examples
from hypothesis import example, given, settings
from hypothesis import strategies as st

from schemas.ids import arxiv_id_pattern, is_valid_id, split_id

TODAY = date(2026, 12, 1)


def reference(ident: str, today: date) -> bool:
    """arXiv's identifier rules (info.arxiv.org/help/arxiv_identifier.html), written out with
    integers instead of a regular expression."""
    if "/" in ident:
        archive, number = ident.split("/", 1)
        words = archive.split("-")
        if not all(w and all("a" <= c <= "z" for c in w) for w in words):
            return False
        if len(number) != 7 or not all("0" <= c <= "9" for c in number):
            return False
        yy, month, serial = int(number[:2]), int(number[2:4]), int(number[4:])
        year = 1900 + yy if yy >= 91 else 2000 + yy
        return 1 <= month <= 12 and (1991, 8) <= (year, month) <= (2007, 3) and serial >= 1
    head, dot, serial_text = ident.partition(".")
    digits = head + serial_text
    if not dot or len(head) != 4 or not digits or not all("0" <= c <= "9" for c in digits):
        return False
    year, month = 2000 + int(head[:2]), int(head[2:])
    if not 1 <= month <= 12 or not (2007, 4) <= (year, month) <= (today.year, today.month):
        return False
    return len(serial_text) == (4 if year < 2015 else 5) and int(serial_text) >= 1


def _two_digits(edges: list[int], high: int) -> st.SearchStrategy[str]:
    """Two digits, half the time on one of the rules' edges."""
    return (st.sampled_from(edges) | st.integers(0, high)).map(lambda n: f"{n:02d}")


# The years and months where a rule changes, and a little either side.
YEARS = _two_digits([0, 6, 7, 8, 14, 15, 26, 27, 91, 99], 99)
MONTHS = _two_digits([0, 1, 3, 4, 7, 8, 12, 13], 99)
# Serial numbers of 3 to 6 digits: zero, one or anything.
NUMBERS = st.builds(
    lambda width, n: f"{n % 10**width:0{width}d}",
    st.sampled_from([3, 4, 5, 6]),
    st.sampled_from([0, 1]) | st.integers(0, 999_999),
)
NEW_STYLE = st.builds(lambda y, m, n: f"{y}{m}.{n}", YEARS, MONTHS, NUMBERS)
ARCHIVES = st.sampled_from(["hep-th", "math", "cond-mat", "astro-ph", "Math", "hep-", "q-bio", ""])
OLD_STYLE = st.builds(lambda a, y, m, n: f"{a}/{y}{m}{n}", ARCHIVES, YEARS, MONTHS, NUMBERS)
NOISE = st.text(alphabet=st.characters(codec="utf-8"), max_size=14)
IDS = NEW_STYLE | OLD_STYLE | NEW_STYLE.map(lambda s: s + "\n") | NOISE


@settings(max_examples=examples(3000), deadline=None)
@given(IDS)
@example("9912.99999")  # 2099: not issued yet
@example("0703.0001")  # the new scheme began in 2007-04
@example("hep-th/9107001")  # the old one in 1991-08
@example("math/0704001")  # and ended in 2007-03
@example("2403.00000")  # numbers start at 1
@example("1412.00001")  # five digits only from 1501
@example("1501.0001")  # four digits only until 1412
@example("2٤03.15603")  # a non-ASCII digit
def test_pattern_matches_the_reference(ident):
    expected = reference(ident, TODAY)
    assert is_valid_id(ident, TODAY) is expected
    # The same pattern as validation runs it, in Arrow's RE2.
    arrow = pc.match_substring_regex(pa.array([ident]), arxiv_id_pattern(TODAY))[0].as_py()
    assert arrow is expected


def test_the_newest_month_moves_with_the_date():
    assert not is_valid_id("2701.00001", TODAY)
    assert is_valid_id("2701.00001", date(2027, 1, 1))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2403.15603", ("2403.15603", None)),
        ("2403.15603v12", ("2403.15603", 12)),
        ("arXiv:2401.12963v1", ("2401.12963", 1)),
        ("1412.7562", ("1412.7562", None)),
        ("hep-th/9901001", ("hep-th/9901001", None)),
        ("math.CA/0611800v2", ("math/0611800", 2)),
        ("Astro-Ph/0601001", ("astro-ph/0601001", None)),
        ("2403.15603v0", None),  # versions start at 1
        ("2403.15603v01", None),
        ("abc", None),
        ("2403.15603/extra", None),
        ("", None),
    ],
)
def test_split_id(raw, expected):
    assert split_id(raw) == expected

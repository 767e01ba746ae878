import pytest

from schemas.ids import is_valid_id, split_id


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
        ("abc", None),
        ("2403.15603/extra", None),
        ("", None),
    ],
)
def test_split_id(raw, expected):
    assert split_id(raw) == expected


@pytest.mark.parametrize(
    ("ident", "valid"),
    [
        ("2403.15603", True),
        ("0704.0001", True),
        ("1412.7562", True),
        ("1501.00001", True),
        ("1501.0001", False),  # 4 digits only up to 1412
        ("1412.75620", False),  # 5 digits only from 1501
        ("2413.12345", False),  # month 13
        ("hep-th/9901001", True),
        ("quant-ph/0201082", True),
        ("hep-th/0813001", False),  # old scheme ended 2007-03... and month 13
        ("hep-th/1001001", False),  # old scheme ends in 2007
        ("2403.15603v1", False),  # canonical ids carry no version
    ],
)
def test_is_valid_id(ident, valid):
    assert is_valid_id(ident) is valid

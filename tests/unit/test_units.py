import pytest

from devstack.core.errors import UsageError
from devstack.core.units import fmt_mib, parse_size


@pytest.mark.parametrize(
    ("text", "mib"),
    [("20g", 20480), ("20G", 20480), ("20GiB", 20480), ("512m", 512), ("1.5g", 1536), ("2048k", 2), ("1t", 1048576)],
)
def test_sizes_people_write(text: str, mib: int) -> None:
    assert parse_size(text) == mib


@pytest.mark.parametrize("text", ["20", "-1g", "abc", "", "0m", "12 apples", "2p", True, None])
def test_sizes_refused_with_a_fix(text: object) -> None:
    with pytest.raises(UsageError) as e:
        parse_size(text)  # type: ignore[arg-type]
    assert e.value.fix


def test_fmt() -> None:
    assert fmt_mib(1536) == "1.5 GiB"
    assert fmt_mib(2048) == "2 GiB"
    assert fmt_mib(768) == "768 MiB"

"""The position <-> TiCDC ts rule (workers.tso)."""
from hypothesis import given, strategies as st

from workers import tso


def test_reference_example_formats_like_ticdc(settings):
    # the TiCDC OpenAPI page's example: "checkpoint_tso": 426921294362574849, "checkpoint_time": "2021-08-10 14:04:54.242",
    # printed by a server in UTC+8 (TiCDC formats in its local time zone, Tower in settings.TIME_ZONE).
    settings.TIME_ZONE = "Asia/Shanghai"
    assert tso.format_ts(426921294362574849) == "2021-08-10 14:04:54.242"
    settings.TIME_ZONE = "UTC"
    assert tso.format_ts(426921294362574849) == "2021-08-10 06:04:54.242"
    assert tso.physical_ms(426921294362574849) == 1628575494242


def test_zero_position_is_zero_ts():
    assert tso.position_ts(0, 1234) == 0
    assert tso.format_ts(0) == ""


def test_position_ts_physical_part_is_the_event_second():
    ts = tso.position_ts(1628604294, 4)
    assert tso.physical_ms(ts) == 1628604294000
    assert tso.physical_time(ts).year == 2021


@given(when=st.integers(1, 2**33), a=st.integers(4, 2**32 - 1), gap=st.integers(27, 2**20))
def test_monotonic_within_a_second(when, a, gap):
    b = a + gap
    if (b >> 4) < tso.SECOND_SPAN:
        assert tso.position_ts(when, a) < tso.position_ts(when, b)
    assert tso.position_ts(when, a) <= tso.position_ts(when, b)


@given(when=st.integers(1, 2**33), a=st.integers(0, 2**40), b=st.integers(0, 2**40))
def test_later_second_always_maps_higher(when, a, b):
    assert tso.position_ts(when, a) < tso.position_ts(when + 1, b)


def test_compose_roundtrip_and_bounds():
    assert tso.physical_ms(tso.compose(123456, 77)) == 123456
    assert tso.compose(123456, 77) & ((1 << 18) - 1) == 77
    import pytest

    with pytest.raises(ValueError):
        tso.compose(1, 1 << 18)

import datetime as dt

import pyarrow as pa

from flywheel.collect.values import parse_int, parse_money, parse_time

UTC = dt.timezone.utc


def test_money_is_exact_integer_cents_in_every_export_spelling():
    cents, bad = parse_money(pa.array(["1,299.00", "¥1299", "￥12.5", "$3", "-4.05", "0.10", "19.990", "abc", "1.234", None]))
    assert cents.to_pylist() == [129900, 129900, 1250, 300, -405, 10, 1999, None, None, None]
    assert bad.tolist() == [False] * 7 + [True, True, False]


def test_times_in_documented_forms_become_utc_instants():
    values = pa.array(["2024-03-05 14:02:11", "2024/3/5 14:02", "2024年3月5日 14:02:11",
                       "2024-03-05T14:02:11+08:00", "2024-03-05T06:02:11.123Z", "2024-03-05 14:02:11 +0800",
                       "1709618531", "2024-13-45", None])
    parsed, bad = parse_time(values, "Asia/Shanghai")
    expected = dt.datetime(2024, 3, 5, 6, 2, 11, tzinfo=UTC)
    got = parsed.to_pylist()
    assert got[0] == got[2] == got[3] == got[4] == got[5] == got[6] == expected
    assert got[1] == dt.datetime(2024, 3, 5, 6, 2, tzinfo=UTC)
    assert got[7] is None and bad.tolist()[7]
    assert got[8] is None and not bad.tolist()[8]


def test_naive_times_follow_the_configured_timezone():
    parsed, _ = parse_time(pa.array(["2024-07-01 12:00:00"]), "Europe/Berlin")
    assert parsed[0].as_py() == dt.datetime(2024, 7, 1, 10, 0, tzinfo=UTC)


def test_int_parsing_flags_garbage():
    values, bad = parse_int(pa.array(["3", "4.0", "x", None]))
    assert values.to_pylist() == [3, 4, None, None]
    assert bad.tolist() == [False, False, True, False]


def test_impossible_calendar_dates_are_rejected_not_rolled_forward():
    parsed, bad = parse_time(pa.array(["2024/02/30", "2023-02-29 10:00:00", "2024-04-31", "2024-02-29 10:00:00"]),
                             "Asia/Shanghai")
    assert parsed.to_pylist()[:3] == [None, None, None]
    assert bad.tolist() == [True, True, True, False]


def test_regions_of_provinces_and_municipalities():
    from flywheel.collect.adapters.orders import split_region

    province, city, district = split_region(pa.array(
        ["上海 上海市 浦东新区 世纪大道1号", "北京市朝阳区建国路8号", "浙江省 杭州市 西湖区 文三路", "广东省深圳市南山区科技园"]))
    assert province.to_pylist() == ["上海市", "北京市", "浙江省", "广东省"]
    assert city.to_pylist() == ["上海市", "北京市", "杭州市", "深圳市"]
    assert district.to_pylist() == ["浦东新区", "朝阳区", "西湖区", "南山区"]

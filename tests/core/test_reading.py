from pathlib import Path

import pytest

from flywheel.collect.reading import (
    clean_header,
    decode,
    read_csv_table,
    strip_wrappers,
)
from flywheel.errors import InputError


def test_ragged_rows_are_rejected_with_their_physical_line_and_quoted_newlines_keep_count():
    data = ('订单编号,b ,c\r\n1,2,3\r\n4,5\r\n"=""123""",x,y\r\n7,8,9,10\r\n"q\r\nr",11,12\r\n\r\n13,14,15\r\n').encode()
    raw = read_csv_table(Path("f.csv"), data)
    assert raw.header == ["订单编号", "b", "c"]
    assert raw.lines.tolist() == [2, 4, 6, 9]
    assert [(r.line, r.reason) for r in raw.rejected] == [(3, "expected 3 fields, found 2"), (5, "expected 3 fields, found 4")]
    assert strip_wrappers(raw.columns["订单编号"]).to_pylist() == ["1", "123", "q\r\nr", "13"]


def test_gb18030_and_bom_are_detected():
    text = "订单编号,买家会员名\n1,张三\n"
    assert decode(text.encode("gb18030"))[1] == "gb18030"
    assert decode(b"\xef\xbb\xbf" + text.encode())[1] == "utf-8-sig"
    raw = read_csv_table(Path("g.csv"), text.encode("gb18030"))
    assert raw.columns["买家会员名"].to_pylist() == ["张三"]


def test_tab_separated_exports_are_read():
    raw = read_csv_table(Path("t.tsv"), "a\tb\n1\t2\n".encode())
    assert raw.columns["b"].to_pylist() == ["2"]


def test_headers_are_compared_tolerantly():
    assert clean_header("\ufeff Financial  Status ") == "financial status"
    assert clean_header("订单编号　") == "订单编号"


def test_empty_file_is_a_clear_error():
    with pytest.raises(InputError, match="empty"):
        read_csv_table(Path("e.csv"), b"")

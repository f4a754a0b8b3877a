import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.identifiers import (
    IdentifierHasher,
    InvalidIdentifier,
    mask_value,
    normalize_cn_id,
    normalize_email,
    normalize_name,
    normalize_phone,
)


@pytest.mark.parametrize("raw", ["13812345678", "+86 138 1234 5678", "86-138-1234-5678", "'13812345678",
                                 "008613812345678", "１３８１２３４５６７８"])
def test_cn_mobiles_in_any_export_spelling_normalise_to_one_e164(raw):
    assert normalize_phone(raw) == normalize_phone("13812345678")
    assert normalize_phone(raw).value == "+8613812345678"
    assert not normalize_phone(raw).partial


def test_marketplace_masked_phone_is_partial_evidence_not_a_full_identifier():
    p = normalize_phone("138****1234")
    assert p.partial and p.id_type == "phone_masked" and p.value == "138****1234"


def test_foreign_numbers_use_their_country_code():
    assert normalize_phone("+49 30 1234567").value == "+49301234567"
    assert normalize_phone("(415) 555-2671", "US").value == "+14155552671"


@pytest.mark.parametrize("raw", ["12345", "abc", "138**1234", ""])
def test_impossible_phones_are_rejected_with_a_reason(raw):
    with pytest.raises(InvalidIdentifier):
        normalize_phone(raw)


def test_email_is_trimmed_and_lowercased_and_validated():
    assert normalize_email("  Zhang.Wei@Example.COM ") == "zhang.wei@example.com"
    with pytest.raises(InvalidIdentifier):
        normalize_email("not-an-email")


def test_names_are_nfkc_normalised():
    assert normalize_name("  Ｚｈａｎｇ　 Wei ") == "Zhang Wei"


def test_resident_id_checksum():
    assert normalize_cn_id("11010519491231002x") == "11010519491231002X"
    with pytest.raises(InvalidIdentifier, match="check digit"):
        normalize_cn_id("110105194912310021")


def test_masks():
    assert mask_value("+8613812345678", "phone") == "138****5678"
    assert mask_value("zhang@example.com", "email") == "z***@example.com"
    assert mask_value("11010519491231002X", "cn_id") == "110105********002X"
    assert mask_value("张伟", "name") == "张*"


def test_hash_is_keyed_and_typed():
    a, b = IdentifierHasher(b"k" * 32), IdentifierHasher(b"j" * 32)
    assert a.hash("phone", "+8613812345678") == a.hash("phone", "+8613812345678")
    assert a.hash("phone", "+8613812345678") != b.hash("phone", "+8613812345678")
    assert a.hash("email", "x") != a.hash("taobao_nick", "x")
    arr = a.hash_array("email", pa.array(["x", None, "x"]))
    assert arr[0] == arr[2] and arr[1].as_py() is None


@given(st.text(max_size=30))
def test_phone_normaliser_never_fails_other_than_with_invalid_identifier(text):
    try:
        normalize_phone(text)
    except InvalidIdentifier:
        pass

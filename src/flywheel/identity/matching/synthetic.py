"""Synthetic marketplace buyer accounts with known persons, for benchmarks and tests.

What a Taobao / JD / Douyin export shows of a buyer: a receiver name (hanzi, sometimes pinyin or a
nickname), a masked phone `138****1234`, an address hash and its province / city / district. The
hard parts are planted on purpose: surnames follow the real skew (王 李 张 刘 陈 cover about 30%),
masked phones collide by chance (3-digit prefix + 4-digit suffix), family members share an address
and a surname but not a phone, people move and change phone, and some accounts carry a nickname.
Vectorised with numpy so 200k accounts take well under a second.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

# Most common Chinese surnames, with their pinyin, roughly in order of frequency.
_SURNAMES = [("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
             ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
             ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("高", "gao"),
             ("林", "lin"), ("罗", "luo"), ("郑", "zheng"), ("梁", "liang"), ("谢", "xie"), ("宋", "song"),
             ("唐", "tang"), ("许", "xu"), ("韩", "han"), ("冯", "feng"), ("邓", "deng"), ("曹", "cao"),
             ("彭", "peng"), ("曾", "zeng"), ("肖", "xiao"), ("田", "tian"), ("董", "dong"), ("袁", "yuan"),
             ("潘", "pan"), ("于", "yu"), ("蒋", "jiang"), ("蔡", "cai")]
_GIVEN = [("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
          ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"),
          ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("秀", "xiu"),
          ("霞", "xia"), ("平", "ping"), ("刚", "gang"), ("桂", "gui"), ("英", "ying"), ("华", "hua"),
          ("玉", "yu"), ("兰", "lan"), ("红", "hong"), ("建", "jian"), ("国", "guo"), ("文", "wen"),
          ("辉", "hui"), ("鑫", "xin"), ("宇", "yu"), ("浩", "hao"), ("婷", "ting"), ("雪", "xue"),
          ("琳", "lin"), ("晨", "chen"), ("欣", "xin"), ("佳", "jia"), ("子", "zi"), ("梓", "zi"),
          ("涵", "han"), ("怡", "yi"), ("思", "si"), ("雨", "yu"), ("博", "bo"), ("轩", "xuan"),
          ("志", "zhi"), ("海", "hai"), ("春", "chun"), ("梅", "mei"), ("俊", "jun"), ("鹏", "peng"),
          ("凯", "kai"), ("琴", "qin"), ("云", "yun"), ("飞", "fei"), ("亮", "liang"), ("倩", "qian")]
_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
             "156", "157", "158", "159", "166", "176", "177", "178", "180", "181", "182", "183", "185",
             "186", "187", "188", "189", "191", "198", "199"]
_PROVINCES = ["北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "上海", "江苏", "浙江", "安徽",
              "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆", "四川", "贵州",
              "云南", "西藏", "陕西", "甘肃", "青海", "宁夏", "新疆"]
_PLACE_CHARS = "安平阳山江海河城东西南北新宁华兴金龙台州德庆昌武清泉丰沙湖宝长乐云永嘉"
_NICK_WORDS = ["xiaoyu", "tb", "jd", "happy", "mm", "baby", "sunny", "lucky", "cat", "moon", "leaf", "star"]


def _zipf(rng: np.random.Generator, n: int, size: int, s: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** s
    return rng.choice(n, size=size, p=weights / weights.sum())


def marketplace_buyers(accounts: int, seed: int = 7) -> tuple[pa.Table, pa.Array]:
    """`accounts` buyer records (`account_key, full_name, phone_masked, address_hash, province,
    city, district`) and, aligned with them, each account's true person id."""
    rng = np.random.default_rng(seed)
    persons = max(1, int(accounts / 1.8))
    surname = _zipf(rng, len(_SURNAMES), persons, 1.1)
    given_len = rng.choice([1, 2], size=persons, p=[0.35, 0.65])
    given1, given2 = _zipf(rng, len(_GIVEN), persons, 0.6), _zipf(rng, len(_GIVEN), persons, 0.6)
    phone = rng.integers(0, len(_PREFIXES), persons), rng.integers(0, 10_000, persons)
    phone2 = rng.integers(0, len(_PREFIXES), persons), rng.integers(0, 10_000, persons)
    # Geography: 31 provinces × 10 cities × 8 districts; an address is a district plus a street key.
    district = rng.integers(0, 31 * 10 * 8, persons)
    street = rng.integers(0, 5_000, persons)
    # Families: 15% of persons live with an earlier person (same address and surname, own phone).
    family = rng.random(persons) < 0.15
    head = np.where(family, rng.integers(0, persons, persons), np.arange(persons))
    head = np.where(head < np.arange(persons), head, np.arange(persons))
    district, street, surname = district[head], street[head], surname[head]
    moved_district, moved_street = rng.integers(0, 31 * 10 * 8, persons), rng.integers(0, 5_000, persons)

    # Accounts: every person has one; the rest go to random persons (so some have 3-5).
    owner = np.concatenate([np.arange(persons), rng.integers(0, persons, accounts - persons)])[:accounts]
    rng.shuffle(owner)
    other_phone = rng.random(accounts) < 0.08
    moved = rng.random(accounts) < 0.10
    style = rng.choice(3, size=accounts, p=[0.85, 0.08, 0.07])  # hanzi, pinyin, nickname
    missing_address = rng.random(accounts) < 0.05

    names = []
    for a in range(accounts):
        p = owner[a]
        chars = [_SURNAMES[surname[p]]] + [_GIVEN[given1[p]]] + ([_GIVEN[given2[p]]] if given_len[p] == 2 else [])
        if style[a] == 0:
            names.append("".join(c for c, _ in chars))
        elif style[a] == 1:
            names.append(" ".join([chars[0][1]] + ["".join(py for _, py in chars[1:])]))
        else:
            names.append(f"{_NICK_WORDS[rng.integers(len(_NICK_WORDS))]}{rng.integers(10, 10_000)}")
    pre = np.where(other_phone, phone2[0][owner], phone[0][owner])
    suf = np.where(other_phone, phone2[1][owner], phone[1][owner])
    masked = [f"{_PREFIXES[x]}****{y:04d}" for x, y in zip(pre, suf)]
    dist = np.where(moved, moved_district[owner], district[owner])
    strt = np.where(moved, moved_street[owner], street[owner])
    hashes = [None if miss else hashlib.sha256(f"{d}|{s}".encode()).hexdigest()[:32]
              for d, s, miss in zip(dist, strt, missing_address)]
    province = [_PROVINCES[d // 80] for d in dist]
    city = [_place(d // 8, "市") for d in dist]
    district_names = [_place(d, "区") for d in dist]
    table = pa.table({
        "account_key": [f"acct{a:07d}" for a in range(accounts)], "full_name": names,
        "phone_masked": masked, "address_hash": hashes, "province": province, "city": city,
        "district": district_names,
    })
    return table, pa.array([f"p{p}" for p in owner])


def _place(index: int, suffix: str) -> str:
    """A two-character place name from its index (names repeat across the country, as real ones do)."""
    k = len(_PLACE_CHARS)
    return _PLACE_CHARS[(index * 7 + 3) % k] + _PLACE_CHARS[(index * 13 + index // k) % k] + suffix


MARKETPLACE_ROLES = {"full_name": "full_name", "phone_masked": "phone_masked", "address_hash": "address_hash",
                     "province": "province", "city": "city", "district": "district"}

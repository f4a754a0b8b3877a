"""Write the hand-made identity set: 160 persons' Shopify, Taobao and Douyin orders in the platforms'
real export layouts, with the traps identity resolution must resist, and `truth.csv`.

    python tests/identity/data/handmade/build.py      # rewrites exports/ and truth.csv

The scenarios are designed by hand (see README.md); `random.Random(20240611)` only fills in order
dates, amounts and which orders show which variant, so the files are the same on every run. It
does not use `flywheel.simulate`: the set is a second, independent opinion on identity quality.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).parent
RNG = random.Random(20240611)

SURNAMES = [("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"), ("杨", "Yang"),
            ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"), ("徐", "Xu"), ("孙", "Sun"),
            ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"), ("郭", "Guo"), ("何", "He"), ("林", "Lin"),
            ("罗", "Luo"), ("高", "Gao"), ("郑", "Zheng"), ("梁", "Liang"), ("谢", "Xie"), ("宋", "Song"),
            ("唐", "Tang"), ("韩", "Han"), ("冯", "Feng"), ("于", "Yu"), ("董", "Dong"), ("萧", "Xiao")]
GIVEN = [("秀英", "Xiuying"), ("桂英", "Guiying"), ("建华", "Jianhua"), ("志强", "Zhiqiang"), ("晓燕", "Xiaoyan"),
         ("海燕", "Haiyan"), ("俊杰", "Junjie"), ("子涵", "Zihan"), ("欣怡", "Xinyi"), ("浩然", "Haoran"),
         ("雨桐", "Yutong"), ("宇轩", "Yuxuan"), ("佳琪", "Jiaqi"), ("梓萱", "Zixuan"), ("思远", "Siyuan"),
         ("文博", "Wenbo"), ("婉清", "Wanqing"), ("国栋", "Guodong"), ("丽华", "Lihua"), ("明辉", "Minghui"),
         ("春梅", "Chunmei"), ("凤英", "Fengying"), ("德明", "Deming"), ("嘉怡", "Jiayi"), ("一鸣", "Yiming"),
         ("静怡", "Jingyi"), ("天佑", "Tianyou"), ("若曦", "Ruoxi"), ("振宇", "Zhenyu"), ("慧敏", "Huimin")]
CITIES = [("浙江省", "杭州市", ["西湖区", "拱墅区", "滨江区"]), ("上海市", "上海市", ["徐汇区", "浦东新区", "静安区"]),
          ("广东省", "深圳市", ["南山区", "福田区"]), ("北京市", "北京市", ["朝阳区", "海淀区"]),
          ("江苏省", "南京市", ["鼓楼区", "建邺区"]), ("四川省", "成都市", ["武侯区", "高新区"]),
          ("湖北省", "武汉市", ["洪山区", "江汉区"]), ("福建省", "厦门市", ["思明区", "湖里区"])]
ROADS = ["文三路", "莫干山路", "漕溪北路", "科苑路", "建国路", "中山北路", "人民南路", "珞喻路", "湖滨南路", "江南大道"]
PREFIXES = ["138", "139", "137", "136", "135", "150", "151", "152", "158", "159", "186", "187", "188", "189", "177"]
NICK_WORDS = ["小仙女", "momo", "快乐星球", "tb", "小熊", "sunny", "阿狸", "木木", "jd粉", "喵喵"]
OFFICE_PHONE = "13957180000"
PLACEHOLDER_PHONE = "13800138000"
PLACEHOLDER_EMAIL = "test@test.com"
PRODUCTS = [("山茶花保湿面霜 50ml", 12900), ("玻尿酸精华水 100ml", 4990), ("氨基酸洁面乳", 5900),
            ("防晒喷雾 SPF50", 8900), ("玫瑰花茶 礼盒", 6800), ("蚕丝面膜 10片", 9900)]
START = datetime(2024, 1, 8, 9, 0)


@dataclass
class Person:
    pid: str
    name: str
    pinyin: str
    phone: str
    province: str
    city: str
    district: str
    street: str
    email: str = ""
    platforms: list[str] = field(default_factory=list)
    nick: str = ""
    uid: str = ""
    orders: int = 4
    office: bool = False
    spouse: Person | None = None
    placeholder: bool = False
    alt_phone: str = ""


def _phone(used: set[str], prefix: str | None = None, suffix: str | None = None) -> str:
    while True:
        p = (prefix or RNG.choice(PREFIXES)) + f"{RNG.randrange(10**4):04d}" + (suffix or f"{RNG.randrange(10**4):04d}")
        if p not in used and p != PLACEHOLDER_PHONE:
            used.add(p)
            return p


def _address() -> tuple[str, str, str, str]:
    province, city, districts = RNG.choice(CITIES)
    street = f"{RNG.choice(ROADS)}{RNG.randint(1, 399)}号{RNG.randint(1, 30)}栋{RNG.randint(1, 28)}{RNG.randint(1, 4):02d}室"
    return province, city, RNG.choice(districts), street


TRAPS: list[tuple[str, list[str]]] = []


def persons() -> list[Person]:
    used_names: set[str] = set()
    used_phones: set[str] = set()
    people: list[Person] = []

    def new(name: tuple[str, str] | None = None, **kw) -> Person:
        if name is None:
            while True:
                s, g = RNG.choice(SURNAMES), RNG.choice(GIVEN)
                if s[0] + g[0] not in used_names:
                    break
            name = (s[0] + g[0], f"{s[1]} {g[1]}")
        used_names.add(name[0])
        province, city, district, street = _address()
        p = Person(f"H{len(people) + 1:03d}", name[0], name[1], kw.pop("phone", None) or _phone(used_phones),
                   province, city, district, street, **kw)
        if not p.platforms:
            p.platforms = RNG.sample(["taobao", "douyin", "shopify"], RNG.choice([1, 2, 2, 3]))
        people.append(p)
        return p

    # Colleagues who give the office mobile as receiver phone on some Taobao orders.
    TRAPS.append(("shared_office_phone", [new(office=True, platforms=["taobao", "douyin"], orders=5).pid
                                          for _ in range(4)]))
    # Couples at one address: different names and phones; each sometimes orders for the other.
    for _ in range(4):
        a = new(platforms=["taobao", "douyin"], orders=5)
        b = new(platforms=["taobao", "shopify"], orders=4)
        b.province, b.city, b.district, b.street = a.province, a.city, a.district, a.street
        a.spouse, b.spouse = b, a
        TRAPS.append(("couple_at_one_address", [a.pid, b.pid]))
    # Masked-phone collisions across different names: 138****5678 shown by two strangers.
    for _ in range(5):
        a = new(platforms=["taobao", "douyin"], orders=4)
        b = new(platforms=["douyin", "taobao"], orders=4, phone=_phone(used_phones, a.phone[:3], a.phone[-4:]))
        assert a.phone[:3] + a.phone[-4:] == b.phone[:3] + b.phone[-4:]
        TRAPS.append(("masked_phone_collision", [a.pid, b.pid]))
    # Namesakes with common two-character names, in different cities.
    for name in (("王伟", "Wang Wei"), ("李娜", "Li Na"), ("张敏", "Zhang Min")):
        pair = []
        for _ in range(2):
            used_names.discard(name[0])
            pair.append(new(name, platforms=["taobao", "douyin"], orders=3).pid)
        TRAPS.append(("namesakes", pair))
    # Placeholders typed on web-shop orders by unrelated buyers.
    TRAPS.append(("placeholders", [new(placeholder=True, platforms=["shopify", "taobao"], orders=3).pid
                                   for _ in range(3)]))
    # A buyer who changed phone: the old one on early orders.
    for _ in range(4):
        new(alt_phone=_phone(used_phones), platforms=["taobao", "douyin", "shopify"], orders=6)
    while len(people) < 160:
        new(orders=RNG.choice([1, 2, 3, 3, 4, 4, 5, 6, 7]))
    for p in people:
        if "shopify" in p.platforms:
            local = p.pinyin.lower().replace(" ", ".") + str(RNG.randint(1, 99))
            p.email = f"{local}@{RNG.choice(['qq.com', '163.com', 'gmail.com', 'outlook.com'])}"
        if "taobao" in p.platforms:
            p.nick = (f"{RNG.choice(NICK_WORDS)}{RNG.randint(100, 99999)}" if RNG.random() < 0.6
                      else f"tb{RNG.randint(10**9, 10**10)}")
        if "douyin" in p.platforms:
            p.uid = str(RNG.randint(10**14, 10**15))
    return people


def _typo(name: str) -> str:
    return name[0] + name[2] + name[1] if len(name) == 3 else name


def _receiver(p: Person, source: str, early: bool) -> tuple[str, str, Person]:
    """Receiver name, phone and whose address, for one order of `p` on `source`."""
    roll = RNG.random()
    if p.spouse is not None and roll < 0.15:
        return p.spouse.name, p.spouse.phone, p.spouse
    phone = p.alt_phone if p.alt_phone and early else p.phone
    if p.office and source == "taobao" and roll < 0.6:
        phone = OFFICE_PHONE
    if p.placeholder:
        phone = PLACEHOLDER_PHONE if source == "shopify" or roll < 0.5 else phone
    name = p.name
    if source == "shopify" and roll < 0.35:
        name = p.pinyin
    elif RNG.random() < 0.04:
        name = _typo(p.name)
    return name, phone, p


def _masked(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


def main() -> None:
    people = persons()
    n_orders = {"taobao": 0, "douyin": 0, "shopify": 0}
    taobao, taobao_again, douyin, shopify, truth = [], [], [], [], []
    for p in people:
        days = sorted(RNG.uniform(0, 300) for _ in range(p.orders))
        for k, day in enumerate(days):
            source = p.platforms[k % len(p.platforms)] if k < len(p.platforms) else RNG.choice(p.platforms)
            n_orders[source] += 1
            created = START + timedelta(days=day, minutes=RNG.randint(0, 600))
            paid = created + timedelta(seconds=RNG.randint(20, 400))
            product, price = RNG.choice(PRODUCTS)
            qty = RNG.choice([1, 1, 1, 2])
            amount = f"{price * qty // 100}.{price * qty % 100:02d}"
            name, phone, home = _receiver(p, source, early=k < len(days) // 2)
            if source == "taobao":
                order_id = str(3300000000000000000 + n_orders["taobao"] * 7919 + RNG.randint(0, 999))
                shown = _masked(phone) if RNG.random() < 0.85 else phone
                address = f"{home.province} {home.city} {home.district} {home.street}"
                row = [f'="{order_id}"', p.nick, _masked(p.phone), amount, "0.00", amount, amount, "交易成功", "",
                       name, address, "", shown, f"{created:%Y-%m-%d %H:%M:%S}", f"{paid:%Y-%m-%d %H:%M:%S}",
                       product, str(qty), "花间生活小店", "0.00"]
                taobao.append(row)
                if day > 240:  # the re-export overlaps the last two months, shown unmasked sometimes
                    again = list(row)
                    again[12] = phone if RNG.random() < 0.3 else _masked(phone)
                    taobao_again.append(again)
            elif source == "douyin":
                order_id = str(6920000000000000000 + n_orders["douyin"] * 104729)
                douyin.append([f'="{order_id}"', f'="{order_id}001"', product, "默认", str(qty), "3600000000000001009",
                               "SKU-A", amount, amount, "0.00", "0.00", "", "", name, _masked(phone), home.province,
                               home.city, home.district, home.district[:2] + "街道", home.street,
                               f"{created:%Y-%m-%dT%H:%M:%S}+08:00", f"{paid:%Y-%m-%dT%H:%M:%S}+08:00", "已完成", "-",
                               "直播", p.uid])
            else:
                order_id = f"#{1000 + n_orders['shopify']}"
                email = PLACEHOLDER_EMAIL if p.placeholder else p.email
                e164 = "+86" + phone
                shopify.append([order_id, email, "paid", f"{paid:%Y-%m-%d %H:%M:%S} +0800", "fulfilled", "yes", "CNY",
                                amount, "0.00", "0.00", amount, "", "0.00", f"{created:%Y-%m-%d %H:%M:%S} +0800",
                                str(qty), product, amount, "SKU-A", p.pinyin if RNG.random() < 0.5 else p.name, name,
                                home.street, home.city, "310000", home.province, "CN", e164, "", "0.00", "web",
                                e164 if RNG.random() < 0.3 else "", str(5000 + n_orders["shopify"])])
            truth.append([source, order_id, p.pid])
    out = HERE / "exports"
    _write(out / "taobao_orders.csv", TAOBAO, taobao)
    _write(out / "taobao_orders_reexport.csv", TAOBAO, taobao_again)
    _write(out / "douyin_orders.csv", DOUYIN, douyin)
    _write(out / "orders_export.csv", SHOPIFY, shopify)
    _write(HERE / "truth.csv", ["source", "order_id", "person"], truth)
    _write(HERE / "traps.csv", ["kind", "persons"], [[kind, "|".join(ids)] for kind, ids in TRAPS])
    print(f"{len(people)} persons, {len(truth)} orders "
          f"(taobao {n_orders['taobao']} + {len(taobao_again)} re-exported, douyin {n_orders['douyin']}, "
          f"shopify {n_orders['shopify']})")


TAOBAO = ["订单编号", "买家会员名", "买家支付宝账号", "买家应付货款", "买家应付邮费", "总金额", "买家实际支付金额", "订单状态",
          "买家留言", "收货人姓名", "收货地址", "联系电话", "联系手机", "订单创建时间", "订单付款时间", "宝贝标题", "宝贝总数量",
          "店铺名称", "退款金额"]
DOUYIN = ["主订单编号", "子订单编号", "选购商品", "商品规格", "商品数量", "商品ID", "商家编码", "商品单价", "订单应付金额", "运费",
          "优惠总金额", "达人ID", "达人昵称", "收件人", "收件人手机号", "省", "市", "区", "街道", "详细地址", "订单提交时间",
          "支付完成时间", "订单状态", "售后状态", "流量来源", "用户ID"]
SHOPIFY = ["Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Accepts Marketing", "Currency",
           "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount", "Created at",
           "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem sku", "Billing Name", "Shipping Name",
           "Shipping Address1", "Shipping City", "Shipping Zip", "Shipping Province", "Shipping Country",
           "Shipping Phone", "Cancelled at", "Refunded Amount", "Source", "Phone", "Id"]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


if __name__ == "__main__":
    main()

"""Each platform's export rows for an order, with that platform's visibility and quirks.

Headers follow docs/connectors.md plus a few real columns adapters ignore. Marketplaces mask phones,
wrap long numbers for Excel and split multi-item orders into continuation rows.
"""

from datetime import datetime

import numpy as np

from flywheel.simulate import pools
from flywheel.simulate.catalog import BRAND_CN, PRODUCTS, SHOPIFY_CURRENCY
from flywheel.simulate.dice import Dice
from flywheel.simulate.population import Person
from flywheel.simulate.purchases import Order

SHOPIFY_HEADER = (
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Accepts Marketing",
    "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount",
    "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem sku",
    "Billing Name", "Billing Address1", "Billing City", "Billing Zip", "Billing Province",
    "Billing Country", "Billing Phone", "Shipping Name", "Shipping Address1", "Shipping Address2",
    "Shipping City", "Shipping Zip", "Shipping Province", "Shipping Country", "Shipping Phone",
    "Notes", "Cancelled at", "Refunded Amount", "Id", "Tags", "Risk Level", "Source", "Phone",
)
TAOBAO_HEADER = (
    "订单编号", "买家会员名", "买家支付宝账号", "买家应付货款", "买家应付邮费", "总金额",
    "买家实际支付金额", "订单状态", "买家留言", "收货人姓名", "收货地址", "运送方式", "联系电话",
    "联系手机", "订单创建时间", "订单付款时间", "宝贝标题", "宝贝种类", "物流单号", "物流公司",
    "订单备注", "宝贝总数量", "店铺Id", "店铺名称", "订单关闭原因", "退款金额",
)
JD_HEADER = (
    "订单号", "商品ID", "商品名称", "订购数量", "支付方式", "下单时间", "京东价", "订单金额",
    "应付金额", "订单状态", "订单类型", "下单帐号", "客户姓名", "客户地址", "联系电话", "订单备注",
    "付款确认时间", "商家SKUID",
)
DOUYIN_HEADER = (
    "主订单编号", "子订单编号", "选购商品", "商品规格", "商品数量", "商品ID", "商家编码", "商品单价",
    "订单应付金额", "运费", "优惠总金额", "达人ID", "达人昵称", "收件人", "收件人手机号", "省", "市",
    "区", "街道", "详细地址", "买家留言", "订单提交时间", "支付完成时间", "订单状态", "售后状态",
    "流量来源", "用户ID", "支付方式",
)
WECOM_HEADER = ("external_userid", "unionid", "name", "follow_userid", "remark", "remark_mobiles",
                "tags", "add_way", "state", "createtime", "gender", "description")

_TAOBAO_STATUS = {"completed": "交易成功", "shipped": "卖家已发货，等待买家确认",
                  "paid": "买家已付款，等待卖家发货", "pending": "等待买家付款",
                  "cancelled": "交易关闭", "refunded": "交易关闭", "partially_refunded": "交易成功"}
_JD_STATUS = {"completed": "完成", "shipped": "等待确认收货", "paid": "等待出库",
              "pending": "等待付款", "cancelled": "已取消", "refunded": "退款成功"}
_DOUYIN_STATUS = {"completed": "已完成", "shipped": "已发货", "paid": "待发货", "pending": "待支付",
                  "cancelled": "已关闭", "refunded": "已关闭", "partially_refunded": "已完成"}
_SHOPIFY_STATUS = {"completed": "paid", "shipped": "paid", "paid": "paid", "pending": "pending",
                   "cancelled": "voided", "refunded": "refunded",
                   "partially_refunded": "partially_refunded"}
_INFLUENCERS = (("71283456901", "小杨哥严选"), ("58821930475", "美妆达人琳琳"),
                ("90311284756", "山野官方直播间"), ("66120938475", "护肤研究所"),
                ("43098127733", "宝妈好物"))
_TRAFFIC = ("直播", "短视频", "商品卡", "搜索")
_TRAFFIC_CUM = np.cumsum([0.45, 0.25, 0.2, 0.1])
_COURIERS = (("顺丰速运", "SF"), ("圆通速递", "YT"), ("中通快递", "ZT"))


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def stamp(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else ""


def mask_phone(phone: str) -> str:
    """Marketplace masking: `138****1234`."""
    digits = phone[-11:]
    return f"{digits[:3]}****{digits[-4:]}"


def title_cn(product) -> str:
    return f"{BRAND_CN} {product.name_cn}"


def cn_address(p: Person) -> str:
    return f"{p.province} {p.city} {p.district} {p.street}"


def shopify_rows(dice: Dice, o: Order) -> list[list[str]]:
    p = o.person
    e164 = o.receiver_phone if o.receiver_phone.startswith("+") else f"+86{o.receiver_phone}"
    discount = int(o.gross_cents * 0.1) if dice.random() < 0.15 else 0
    code = "WELCOME10" if discount else ""
    if o.discount_code:
        code, discount = o.discount_code, o.discount_cents
    name = o.receiver_name
    rows = []
    for k, (product, qty, cents) in enumerate(o.items):
        row = dict.fromkeys(SHOPIFY_HEADER, "")
        row.update({"Name": o.order_id, "Email": o.email, "Lineitem quantity": str(qty),
                    "Lineitem name": product.name_en, "Lineitem price": money(cents // qty),
                    "Lineitem sku": product.sku})
        if k == 0:
            row.update({
                "Financial Status": _SHOPIFY_STATUS[o.status],
                "Paid at": o.paid.strftime("%Y-%m-%dT%H:%M:%S+08:00") if o.paid else "",
                "Fulfillment Status": "fulfilled" if o.status in ("completed", "shipped") else "unfulfilled",
                "Accepts Marketing": "yes" if p.n % 3 else "no", "Currency": SHOPIFY_CURRENCY,
                "Subtotal": money(o.gross_cents + discount), "Shipping": "0.00", "Taxes": "0.00",
                "Total": money(o.gross_cents), "Discount Code": code,
                "Discount Amount": money(discount) if discount else "",
                "Created at": o.created.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
                "Billing Name": p.name_pinyin if p.region == "CN" and dice.random() < 0.3 else p.name,
                "Billing Address1": p.street, "Billing City": p.city, "Billing Zip": p.zip,
                "Billing Province": p.province, "Billing Country": p.country,
                "Billing Phone": e164 if dice.random() < 0.5 else "", "Shipping Name": name,
                "Shipping Address1": p.street, "Shipping Address2": p.district,
                "Shipping City": p.city, "Shipping Zip": p.zip, "Shipping Province": p.province,
                "Shipping Country": p.country, "Shipping Phone": e164,
                "Notes": "请周末送货" if dice.random() < 0.03 else "",
                "Cancelled at": stamp(o.created).replace(" ", "T") + "+08:00" if o.status == "cancelled" else "",
                "Refunded Amount": money(o.refund_cents) if o.refund_cents else "",
                "Id": str(5_100_000_000_000 + int(o.order_id[1:]) * 7), "Tags": "gift" if o.gift else "",
                "Risk Level": "Low", "Source": "web", "Phone": e164 if dice.random() < 0.3 else ""})
        rows.append([row[c] for c in SHOPIFY_HEADER])
    return rows


def _excel_wrap(dice: Dice, value: str) -> str:
    return f'="{value}"' if dice.random() < 0.3 else value


def taobao_rows(dice: Dice, o: Order, store: tuple[str, str]) -> list[list[str]]:
    p = o.person
    phone = o.receiver_phone
    shown = mask_phone(phone) if dice.random() < 0.85 else ("'" + phone if dice.random() < 0.3 else phone)
    shipped = o.status in ("completed", "shipped", "refunded", "partially_refunded")
    courier, code = _COURIERS[dice.below(len(_COURIERS))]
    split = len(o.items) > 1 and dice.random() < 0.7
    items = o.items[:1] if split else o.items
    title = "，".join(title_cn(i[0]) for i in items)
    alipay = mask_phone(p.phone) if p.region == "CN" and dice.random() < 0.6 else \
        f"{p.email[:3]}***@{p.email.split('@')[1]}"
    row = [
        _excel_wrap(dice, o.order_id), p.taobao_nick, alipay, money(o.gross_cents), "0.00",
        money(o.gross_cents), money(o.gross_cents), _TAOBAO_STATUS[o.status],
        "尽快发货" if dice.random() < 0.04 else "", o.receiver_name,
        cn_address(p) if dice.random() < 0.9 else f"{p.province} {p.city} {p.district} ****",
        "快递", "", shown, stamp(o.created), stamp(o.paid), title, str(len(items)),
        f"{code}{dice.integer(10**11, 10**12)}" if shipped else "", courier if shipped else "",
        "", str(sum(i[1] for i in items)), store[0], store[1],
        "买家不想买了" if o.status == "cancelled" else "退款" if o.status == "refunded" else "",
        money(o.refund_cents) if o.refund_cents else "0.00",
    ]
    rows = [row]
    if split:
        for product, qty, _ in o.items[1:]:
            cont = [""] * len(TAOBAO_HEADER)
            cont[0], cont[16], cont[21] = _excel_wrap(dice, o.order_id), title_cn(product), str(qty)
            rows.append(cont)
    return rows


def jd_rows(dice: Dice, o: Order) -> list[list[str]]:
    p = o.person
    rows = []
    for product, qty, cents in o.items:
        rows.append([
            o.order_id, str(100012000000 + PRODUCTS.index(product) * 37), title_cn(product),
            str(qty), "在线支付", stamp(o.created), money(cents // qty), money(o.gross_cents),
            money(cents), _JD_STATUS[o.status], "普通订单", p.jd_pin, o.receiver_name,
            cn_address(p), mask_phone(o.receiver_phone), "", stamp(o.paid), product.sku])
    return rows


def douyin_rows(dice: Dice, o: Order, sub_ids: list[str]) -> list[list[str]]:
    p = o.person
    traffic = _TRAFFIC[dice.weighted(_TRAFFIC_CUM)]
    influencer = _INFLUENCERS[dice.below(len(_INFLUENCERS))] \
        if traffic in ("直播", "短视频") and dice.random() < 0.7 else ("", "")
    rows = []
    for k, ((product, qty, cents), sub_id) in enumerate(zip(o.items, sub_ids)):
        after_sale = "退款成功" if k in o.refunded_items else "-"
        rows.append([
            o.order_id, sub_id, title_cn(product), "默认", str(qty),
            str(3600000000000000000 + PRODUCTS.index(product) * 1009), product.sku,
            money(cents // qty), money(cents), "0.00", "0.00", influencer[0], influencer[1],
            o.receiver_name, mask_phone(o.receiver_phone), p.province, p.city, p.district,
            f"{p.district[:2]}街道", p.street, "", stamp(o.created), stamp(o.paid),
            _DOUYIN_STATUS[o.status], after_sale, traffic, p.douyin_id, "微信" if k % 2 else "抖音支付"])
    return rows


def wecom_rows(dice: Dice, p: Person, created: int) -> list[list[str]]:
    roll = dice.random()
    name = p.name if roll < 0.4 else pools.NICK_WORDS[dice.below(len(pools.NICK_WORDS))]
    if "pinyin_name" in p.traps:
        name = p.name_pinyin
    mobile = p.traps.get("placeholder_phone", p.phone) if dice.random() < 0.4 else ""
    tags = ",".join(dict.fromkeys(dice.pick(pools.WECOM_TAGS) for _ in range(dice.below(3))))
    first = dice.below(len(pools.WECOM_EMPLOYEES))
    employees = [first] + ([(first + 1 + dice.below(3)) % len(pools.WECOM_EMPLOYEES)]
                           if dice.random() < 0.1 else [])
    rows = []
    for e in employees:
        rows.append([
            p.external_userid, p.unionid, name, pools.WECOM_EMPLOYEES[int(e)],
            f"{p.name}-{'老客' if dice.random() < 0.5 else '新客'}" if dice.random() < 0.5 else "",
            mobile, tags, str(pools.WECOM_ADD_WAYS[dice.below(len(pools.WECOM_ADD_WAYS))]),
            pools.WECOM_STATES[dice.below(len(pools.WECOM_STATES))], str(created),
            str(1 + int(dice.random() < 0.6)), ""])
    return rows

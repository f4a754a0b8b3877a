"""The simulated brand: its true parameters, product catalogue, planted pairs and ad channels.

Everything here is the ground truth that analyses are graded against, so it is written to
`truth/params.json`, `truth/channel_effects.csv` and `truth/copurchase_pairs.csv` verbatim.
"""

from dataclasses import asdict, dataclass
from datetime import datetime

PERIOD_START = datetime(2024, 1, 1)
PERIOD_END = datetime(2025, 7, 1)
PERIOD_DAYS = (PERIOD_END - PERIOD_START).days
TIMEZONE = "Asia/Shanghai"
UTC_OFFSET_HOURS = 8
SHOPIFY_CURRENCY = "CNY"


@dataclass(frozen=True)
class TrueParams:
    """Buy-till-you-die and gamma-gamma parameters the purchases are drawn from.

    Purchase rate per day λ ~ Gamma(shape=r, rate=alpha); dropout after each purchase p ~ Beta(a, b);
    per-person spend scale ν ~ Gamma(shape=q, rate=v); order value ~ Gamma(shape=p, rate=ν) yuan,
    so the mean order value is p·v/(q−1).
    """

    r: float = 0.9
    alpha: float = 120.0
    a: float = 0.8
    b: float = 2.6
    p: float = 6.0
    q: float = 4.0
    v: float = 125.0
    never_buyer_share: float = 0.18


TRUE_PARAMS = TrueParams()

CATEGORIES = (
    ("skincare", "护肤", "Skincare"),
    ("makeup", "彩妆", "Makeup"),
    ("body", "身体护理", "Body care"),
    ("hair", "洗护发", "Hair care"),
    ("fragrance", "香氛", "Fragrance"),
    ("tea", "花草茶", "Herbal tea"),
    ("home", "家居", "Home"),
    ("gift", "礼盒", "Gift sets"),
)

_PRODUCT_NAMES = {
    "skincare": (("氨基酸洁面乳", "Amino Cleanser"), ("玻尿酸精华", "Hyaluronic Serum"),
                 ("保湿面霜", "Moisture Cream"), ("爽肤水", "Toner"), ("防晒乳", "Sunscreen SPF50"),
                 ("眼霜", "Eye Cream"), ("面膜10片", "Sheet Mask x10"), ("卸妆油", "Cleansing Oil")),
    "makeup": (("哑光口红", "Matte Lipstick"), ("气垫粉底", "Cushion Foundation"),
               ("眉笔", "Brow Pencil"), ("腮红", "Blush"), ("睫毛膏", "Mascara"),
               ("定妆喷雾", "Setting Spray"), ("化妆刷套装", "Brush Set")),
    "body": (("身体乳", "Body Lotion"), ("沐浴露", "Body Wash"), ("磨砂膏", "Body Scrub"),
             ("护手霜", "Hand Cream"), ("润唇膏", "Lip Balm"), ("足膜", "Foot Mask"),
             ("浴盐", "Bath Salt"), ("止汗露", "Deodorant")),
    "hair": (("无硅油洗发水", "Silicone-free Shampoo"), ("护发素", "Conditioner"),
             ("发膜", "Hair Mask"), ("护发精油", "Hair Oil"), ("头皮精华", "Scalp Serum"),
             ("干发喷雾", "Dry Shampoo"), ("木梳", "Wooden Comb")),
    "fragrance": (("白茶香水", "White Tea Eau de Parfum"), ("桂花香水", "Osmanthus Eau de Parfum"),
                  ("香薰蜡烛", "Scented Candle"), ("车载香薰", "Car Diffuser"),
                  ("扩香石", "Aroma Stone"), ("香水小样", "Discovery Set"),
                  ("精油滚珠", "Roll-on Oil"), ("室内喷雾", "Room Spray")),
    "tea": (("玫瑰花茶", "Rose Tea"), ("菊花枸杞茶", "Chrysanthemum Goji Tea"),
            ("桂花乌龙", "Osmanthus Oolong"), ("红豆薏米茶", "Red Bean Barley Tea"),
            ("茶具套装", "Tea Set"), ("玻璃杯", "Glass Cup"), ("蜂蜜", "Honey")),
    "home": (("竹纤维毛巾", "Bamboo Towel"), ("真丝眼罩", "Silk Eye Mask"),
             ("化妆包", "Cosmetic Bag"), ("收纳盒", "Storage Box"), ("香皂盒", "Soap Dish"),
             ("浴袍", "Bathrobe"), ("发圈", "Scrunchies"), ("镜子", "Vanity Mirror")),
    "gift": (("新年礼盒", "New Year Gift Box"), ("七夕礼盒", "Qixi Gift Box"),
             ("旅行装套盒", "Travel Kit"), ("会员专享礼盒", "Member Gift Box"),
             ("母亲节礼盒", "Mother's Day Box"), ("圣诞礼盒", "Christmas Box"),
             ("体验装", "Trial Kit")),
}

_CATEGORY_PRICE = {"skincare": 189, "makeup": 149, "body": 79, "hair": 89, "fragrance": 259,
                   "tea": 59, "home": 69, "gift": 399}


@dataclass(frozen=True)
class Product:
    """One catalogue entry; `sku` is the brand's merchant code (商家编码) shared by every source."""

    sku: str
    category: str
    name_cn: str
    name_en: str
    list_price: float
    popularity: float


def _build_products() -> tuple[Product, ...]:
    products = []
    for category, _, _ in CATEGORIES:
        for i, (cn, en) in enumerate(_PRODUCT_NAMES[category]):
            price = _CATEGORY_PRICE[category] * (0.6 + 0.15 * (i % 5))
            products.append(Product(
                sku=f"SY-{category[:3].upper()}-{i + 1:02d}", category=category, name_cn=cn,
                name_en=en, list_price=round(price, 0), popularity=1.0 / (1 + i) ** 0.8))
    return tuple(products)


PRODUCTS = _build_products()
BRAND_CN = "山野"
BRAND_EN = "Shanye"

#: Planted co-purchase pairs: when the first product is in an order, the second is added with
#: this probability (over and above its ordinary popularity).
COPURCHASE_PAIRS = (
    ("SY-SKI-01", "SY-SKI-04", 0.45),
    ("SY-HAI-01", "SY-HAI-02", 0.55),
    ("SY-MAK-01", "SY-MAK-03", 0.35),
    ("SY-FRA-03", "SY-FRA-05", 0.40),
    ("SY-TEA-01", "SY-TEA-05", 0.30),
    ("SY-BOD-01", "SY-BOD-04", 0.35),
)


@dataclass(frozen=True)
class Channel:
    """A paid channel: true incremental conversion probability per touchpoint and daily spend."""

    name: str
    label: str
    medium: str
    effect: float
    spend_min: float
    spend_max: float
    cpm: float
    ctr: float
    campaigns: tuple[str, ...]


CHANNELS = (
    Channel("douyin", "巨量千川", "cpc", 0.060, 3000, 12000, 35.0, 0.020,
            ("直播间引流", "短视频种草", "新品推广")),
    Channel("alimama", "阿里妈妈直通车", "cpc", 0.040, 2000, 8000, 45.0, 0.025,
            ("关键词-洁面", "关键词-香水")),
    Channel("tencent", "腾讯广告", "cpm", 0.025, 1500, 6000, 28.0, 0.012,
            ("朋友圈广告", "小程序拉新")),
    Channel("google", "Google Ads", "cpc", 0.015, 500, 2000, 60.0, 0.018,
            ("Search - Brand EU", "Shopping US")),
    Channel("baidu_brand", "百度品牌专区", "cpc", 0.0, 300, 800, 20.0, 0.080,
            ("品牌词",)),
)

#: baidu_brand touchpoints are planted just before organic orders (attribution trap): they look
#: like conversions but cause none.
BRAND_SEARCH_SHARE = 0.25


def params_record(seed: int, persons: int) -> dict:
    """The `truth/params.json` document."""
    return {
        "seed": seed, "persons": persons, "timezone": TIMEZONE,
        "period_start": PERIOD_START.date().isoformat(),
        "period_end": PERIOD_END.date().isoformat(), "period_days": PERIOD_DAYS,
        "purchase_process": "BG/NBD-style: first purchase at acquisition, exponential gaps at rate "
                            "lambda per day, dropout with prob p after each purchase",
        **asdict(TRUE_PARAMS),
        "mean_order_value": TRUE_PARAMS.p * TRUE_PARAMS.v / (TRUE_PARAMS.q - 1),
        "currency": "CNY",
        "brand_search_share": BRAND_SEARCH_SHARE,
    }

"""Value pools the simulated persons draw from: names, places, phone prefixes, employees.

Kept as plain tuples so every draw is an index into a fixed order, which keeps output identical for
a seed across runs and machines.
"""

SURNAMES = (
    ("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"), ("杨", "Yang"),
    ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"), ("徐", "Xu"), ("孙", "Sun"),
    ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"), ("郭", "Guo"), ("何", "He"), ("林", "Lin"),
    ("高", "Gao"), ("罗", "Luo"), ("郑", "Zheng"), ("梁", "Liang"), ("谢", "Xie"), ("宋", "Song"),
    ("唐", "Tang"), ("许", "Xu"), ("韩", "Han"), ("冯", "Feng"), ("邓", "Deng"), ("曹", "Cao"),
    ("彭", "Peng"), ("曾", "Zeng"), ("肖", "Xiao"), ("田", "Tian"), ("董", "Dong"), ("潘", "Pan"),
    ("袁", "Yuan"), ("蔡", "Cai"), ("蒋", "Jiang"), ("余", "Yu"),
)

GIVEN_CHARS = (
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
    ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"),
    ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("秀", "xiu"),
    ("霞", "xia"), ("平", "ping"), ("刚", "gang"), ("桂", "gui"), ("英", "ying"), ("华", "hua"),
    ("玉", "yu"), ("兰", "lan"), ("建", "jian"), ("文", "wen"), ("辉", "hui"), ("鑫", "xin"),
    ("宇", "yu"), ("浩", "hao"), ("婷", "ting"), ("雪", "xue"), ("琳", "lin"), ("欣", "xin"),
    ("晨", "chen"), ("思", "si"), ("佳", "jia"), ("子", "zi"), ("梓", "zi"), ("涵", "han"),
    ("一", "yi"), ("诺", "nuo"), ("若", "ruo"), ("萱", "xuan"), ("博", "bo"), ("轩", "xuan"),
)

LATIN_FIRST = (
    "James", "Mary", "John", "Linda", "Michael", "Sarah", "David", "Emma", "Daniel", "Olivia",
    "Thomas", "Sophie", "Lukas", "Anna", "Léa", "Hugo", "Chloé", "Marco", "Giulia", "Pablo",
    "Lucía", "Jonas", "Mia", "Noah", "Emily", "Oliver", "Charlotte", "Lars", "Ingrid", "Mateo",
)

LATIN_LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor",
    "Anderson", "Müller", "Schmidt", "Schneider", "Fischer", "Dubois", "Martin", "Bernard",
    "Rossi", "Russo", "García", "Fernández", "López", "Jansen", "de Vries", "Nilsson", "Kowalski",
)

CN_PLACES = (
    ("浙江省", "杭州市", ("西湖区", "滨江区", "余杭区")),
    ("浙江省", "宁波市", ("鄞州区", "海曙区")),
    ("广东省", "广州市", ("天河区", "越秀区", "海珠区")),
    ("广东省", "深圳市", ("南山区", "福田区", "宝安区")),
    ("江苏省", "南京市", ("鼓楼区", "玄武区")),
    ("江苏省", "苏州市", ("姑苏区", "工业园区")),
    ("上海市", "上海市", ("浦东新区", "徐汇区", "静安区", "闵行区")),
    ("北京市", "北京市", ("朝阳区", "海淀区", "东城区")),
    ("四川省", "成都市", ("武侯区", "锦江区", "高新区")),
    ("湖北省", "武汉市", ("洪山区", "江汉区")),
    ("山东省", "青岛市", ("市南区", "崂山区")),
    ("福建省", "厦门市", ("思明区", "湖里区")),
)

CN_STREETS = (
    "文三路", "学院路", "人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "长江路",
    "南京路", "天目山路", "科技园路", "滨江大道", "花园街", "幸福里",
)

CN_PHONE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "177", "180", "181", "182", "185", "186", "187", "188",
    "189", "199",
)

EU_PLACES = (
    ("DE", "+49", "151", "Berlin", "BE", "10115", ("Hauptstraße", "Bahnhofstraße", "Gartenweg")),
    ("DE", "+49", "170", "München", "BY", "80331", ("Leopoldstraße", "Marienplatz")),
    ("FR", "+33", "6", "Paris", "IDF", "75001", ("Rue de Rivoli", "Rue Oberkampf")),
    ("FR", "+33", "75", "Lyon", "ARA", "69001", ("Rue de la République",)),
    ("GB", "+44", "79", "London", "ENG", "SW1A 1AA", ("Baker Street", "King's Road")),
    ("ES", "+34", "6", "Madrid", "MD", "28001", ("Calle de Alcalá", "Gran Vía")),
    ("IT", "+39", "33", "Milano", "MI", "20121", ("Via Torino", "Corso Como")),
    ("NL", "+31", "61", "Amsterdam", "NH", "1012", ("Damrak", "Prinsengracht")),
)

US_PLACES = (
    ("415", "San Francisco", "CA", "94103", ("Market St", "Valencia St")),
    ("212", "New York", "NY", "10001", ("Broadway", "5th Ave")),
    ("646", "New York", "NY", "10011", ("W 14th St", "8th Ave")),
    ("312", "Chicago", "IL", "60601", ("Michigan Ave", "State St")),
    ("617", "Boston", "MA", "02108", ("Beacon St", "Newbury St")),
    ("206", "Seattle", "WA", "98101", ("Pine St", "1st Ave")),
    ("512", "Austin", "TX", "78701", ("Congress Ave", "6th St")),
)

#: IANA time zone of a place: CN is one zone; EU by country, US by state (all observe DST).
CN_TIMEZONE = "Asia/Shanghai"
TIMEZONES = {
    "DE": "Europe/Berlin", "FR": "Europe/Paris", "GB": "Europe/London", "ES": "Europe/Madrid",
    "IT": "Europe/Rome", "NL": "Europe/Amsterdam", "CA": "America/Los_Angeles",
    "WA": "America/Los_Angeles", "NY": "America/New_York", "MA": "America/New_York",
    "IL": "America/Chicago", "TX": "America/Chicago",
}

#: national significant number length of mobiles, by country calling code
EU_MOBILE_LENGTH = {"+49": 11, "+33": 9, "+44": 10, "+34": 9, "+39": 10, "+31": 9}

CN_EMAIL_DOMAINS = ("163.com", "126.com", "qq.com", "sina.com", "gmail.com", "outlook.com")
LATIN_EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "gmx.de", "orange.fr")

NICK_WORDS = (
    "小鱼儿", "阳光", "快乐猫", "星星", "木子", "追风", "甜甜圈", "橙子", "大白", "安静",
    "微笑", "向日葵", "小熊", "清风", "柠檬",
)

WECOM_EMPLOYEES = ("zhangli", "wangfang", "liuyang", "chenjing", "store_hz01", "store_sh02")
WECOM_TAGS = ("老客户", "高价值", "新客", "宝妈", "敏感肌", "门店", "直播间", "复购")
WECOM_STATES = ("pkg_card", "store_qr", "live_douyin", "mp_popup", "")
WECOM_ADD_WAYS = (1, 2, 3, 5, 201)

FAMILY_RELATIONS = ("妈妈", "爸爸", "老婆", "老公", "女儿")

USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) MicroMessenger/8.0.47 MiniProgramEnv/iOS",
    "Mozilla/5.0 (Linux; Android 13) MicroMessenger/8.0.45 MiniProgramEnv/android",
)

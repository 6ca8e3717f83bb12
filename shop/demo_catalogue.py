"""The demo catalogue's words, in Chinese and English: departments, the category tree and, per
leaf category, what its products are called, what they are made of (or taste like, or suit),
which colours and sizes they come in. Product names are drawn only from their own leaf's lists,
so a mooncake is never aluminium and headphones are never ceramic (tests/shop/test_demo_catalogue.py).

Everything is a (Chinese, English) pair; shop.demo turns these into rows.
"""

# ruff: noqa: E501 (a table of words: a category and its lists read best on a line or two)
import random
from dataclasses import dataclass, field

Pair = tuple[str, str]

# Attributes: code -> (Chinese, English, position). "Traits" are what a product is made of,
# tastes like or suits: one per product, a filter facet, named in its title.
ATTRIBUTES = {
    "colour": ("颜色", "Colour", 1),
    "size": ("尺码", "Size", 2),
    "pack": ("规格", "Pack size", 3),
    "material": ("材质", "Material", 4),
    "flavour": ("口味", "Flavour", 5),
    "skin": ("适用肤质", "Skin type", 6),
}

# (Chinese, English, RGB): the variant's colour, and its photo's.
COLOURS = {
    "red": ("红色", "red", (214, 48, 49)),
    "black": ("黑色", "black", (40, 40, 40)),
    "white": ("白色", "white", (235, 235, 235)),
    "blue": ("蓝色", "blue", (9, 132, 227)),
    "grey": ("灰色", "grey", (140, 140, 140)),
    "green": ("绿色", "green", (0, 148, 50)),
}

CLOTHES_SIZES = [("S", "S"), ("M", "M"), ("L", "L"), ("XL", "XL")]
SHOE_SIZES = [("39", "39"), ("40", "40"), ("41", "41"), ("42", "42"), ("43", "43")]
BED_SIZES = [("1.5米床", "1.5 m bed"), ("1.8米床", "1.8 m bed")]

PROVINCES_EN = {"浙江": "Zhejiang", "广东": "Guangdong", "江苏": "Jiangsu", "福建": "Fujian", "云南": "Yunnan"}


@dataclass(frozen=True)
class Leaf:
    code: str
    name: Pair
    nouns: list[Pair]  # what a product of this category is
    traits: list[Pair]  # the values of its root's trait attribute that fit it
    colours: list[str] = field(default_factory=list)  # COLOURS keys; none: one colourless variant
    sizes: tuple[str, list[Pair]] | None = None  # (attribute code, values)
    origins: list[str] = field(default_factory=lambda: ["浙江", "广东", "江苏", "福建"])


@dataclass(frozen=True)
class Root:
    code: str
    name: Pair
    department: tuple[str, str, str]  # code, Chinese name, English name
    trait: str  # ATTRIBUTES key
    adjectives: list[Pair]
    selling_point: Pair
    extra_specs: list[tuple[str, str, str, str]]  # label, English label, value, English value
    children: list[tuple[str, Pair, list[Leaf]]]
    colour: str  # the photo's colour for colourless products


ALL = list(COLOURS)
DARK = ["black", "white", "grey", "blue"]

TREE = [
    Root(
        "clothing", ("服装", "Clothing"), ("apparel", "服装部", "Apparel department"), "material",
        [("经典", "classic"), ("简约", "minimalist"), ("修身", "slim-fit"), ("宽松", "relaxed"), ("复古", "retro")],
        ("舒适透气", "soft and breathable"), [("洗涤", "Care", "可机洗", "machine washable")],
        [
            ("mens", ("男装", "Men"), [
                Leaf("t-shirts", ("T恤", "T-shirts"),
                     [("圆领T恤", "crew-neck T-shirt"), ("V领T恤", "V-neck T-shirt"), ("Polo衫", "polo shirt")],
                     [("纯棉", "cotton"), ("莫代尔", "modal"), ("速干", "quick-dry")], ALL, ("size", CLOTHES_SIZES)),
                Leaf("shirts", ("衬衫", "Shirts"), [("商务衬衫", "business shirt"), ("休闲衬衫", "casual shirt")],
                     [("纯棉", "cotton"), ("亚麻", "linen"), ("牛津纺", "oxford cloth")], ALL, ("size", CLOTHES_SIZES)),
                Leaf("jackets", ("外套", "Jackets"), [("夹克", "jacket"), ("羽绒服", "down jacket"), ("风衣", "trench coat")],
                     [("涤纶", "polyester"), ("尼龙", "nylon"), ("纯棉", "cotton")], DARK, ("size", CLOTHES_SIZES)),
            ]),
            ("womens", ("女装", "Women"), [
                Leaf("dresses", ("连衣裙", "Dresses"), [("连衣裙", "dress"), ("半身裙", "skirt")],
                     [("真丝", "silk"), ("雪纺", "chiffon"), ("纯棉", "cotton")], ALL, ("size", CLOTHES_SIZES)),
                Leaf("knitwear", ("针织衫", "Knitwear"), [("毛衣", "sweater"), ("开衫", "cardigan")],
                     [("羊毛", "wool"), ("羊绒", "cashmere"), ("纯棉", "cotton")], ALL, ("size", CLOTHES_SIZES)),
                Leaf("trousers", ("裤装", "Trousers"), [("牛仔裤", "jeans"), ("阔腿裤", "wide-leg trousers")],
                     [("牛仔布", "denim"), ("纯棉", "cotton"), ("亚麻", "linen")], DARK, ("size", CLOTHES_SIZES)),
            ]),
        ],
        "blue",
    ),
    Root(
        "electronics", ("数码", "Electronics"), ("digital", "数码部", "Digital department"), "material",
        [("新款", "new"), ("轻薄", "slim"), ("便携", "portable"), ("高端", "premium")],
        ("一年保修", "with a one-year warranty"), [("保修", "Warranty", "全国联保一年", "one year, nationwide")],
        [
            ("phones", ("手机", "Phones"), [
                Leaf("smartphones", ("智能手机", "Smartphones"), [("智能手机", "smartphone")],
                     [("铝合金", "aluminium"), ("玻璃", "glass")], ["black", "white", "blue", "green"]),
                Leaf("phone-accessories", ("手机配件", "Phone accessories"),
                     [("手机壳", "phone case"), ("充电器", "charger"), ("数据线", "charging cable")],
                     [("硅胶", "silicone"), ("尼龙编织", "braided nylon"), ("TPU", "TPU")], ALL),
            ]),
            ("audio", ("影音", "Audio"), [
                Leaf("headphones", ("耳机", "Headphones"),
                     [("蓝牙耳机", "Bluetooth earbuds"), ("头戴式耳机", "over-ear headphones")],
                     [("ABS", "ABS plastic"), ("铝合金", "aluminium"), ("蛋白皮", "protein leather")], DARK),
                Leaf("speakers", ("音箱", "Speakers"), [("蓝牙音箱", "Bluetooth speaker"), ("智能音箱", "smart speaker")],
                     [("织物", "fabric"), ("铝合金", "aluminium"), ("木质", "wood")], DARK),
            ]),
        ],
        "grey",
    ),
    Root(
        "home", ("家居", "Home"), ("home", "家居部", "Home department"), "material",
        [("加厚", "heavy-duty"), ("简约", "minimalist"), ("北欧风", "Nordic"), ("家用", "everyday")],
        ("耐用易清洁", "durable and easy to clean"), [("适用场景", "For", "家用", "home use")],
        [
            ("kitchen", ("厨具", "Kitchen"), [
                Leaf("cookware", ("锅具", "Cookware"), [("炒锅", "wok"), ("汤锅", "stockpot"), ("平底锅", "frying pan")],
                     [("不锈钢", "stainless steel"), ("铸铁", "cast iron"), ("不粘", "non-stick")], ["black", "grey", "red"]),
                Leaf("tableware", ("餐具", "Tableware"), [("碗", "bowl"), ("餐盘", "plate"), ("马克杯", "mug")],
                     [("陶瓷", "ceramic"), ("骨瓷", "bone china"), ("玻璃", "glass")], ["white", "blue", "green"]),
            ]),
            ("bedding", ("床品", "Bedding"), [
                Leaf("sheets", ("床单", "Sheets"), [("四件套", "bedding set"), ("床单", "bed sheet")],
                     [("纯棉", "cotton"), ("天丝", "Tencel"), ("真丝", "silk")], ["white", "grey", "blue", "green"],
                     ("size", BED_SIZES)),
                Leaf("pillows", ("枕头", "Pillows"), [("乳胶枕", "latex pillow"), ("羽绒枕", "down pillow")],
                     [("纯棉", "cotton"), ("天丝", "Tencel")], ["white", "grey"]),
            ]),
        ],
        "green",
    ),
    Root(
        "food", ("食品", "Food"), ("food", "食品部", "Food department"), "flavour",
        [("经典", "classic"), ("精选", "selected"), ("家庭装", "family-size"), ("新鲜", "fresh")],
        ("产地直发", "shipped from where it is made"),
        [("保质期", "Shelf life", "180天", "180 days"), ("储存", "Storage", "阴凉干燥处", "cool and dry")],
        [
            ("tea", ("茶叶", "Tea"), [
                Leaf("green-tea", ("绿茶", "Green tea"), [("龙井茶", "Longjing tea"), ("碧螺春", "Biluochun tea")],
                     [("清香", "fresh"), ("豆香", "nutty")], sizes=("pack", [("100克", "100 g"), ("250克", "250 g")]),
                     origins=["浙江", "江苏"]),
                Leaf("black-tea", ("红茶", "Black tea"), [("祁门红茶", "Keemun black tea"), ("滇红", "Dianhong black tea")],
                     [("蜜香", "honey-scented"), ("浓香", "rich")],
                     sizes=("pack", [("100克", "100 g"), ("250克", "250 g")]), origins=["云南", "福建"]),
            ]),
            ("snacks", ("零食", "Snacks"), [
                Leaf("nuts", ("坚果", "Nuts"), [("每日坚果", "daily nut mix"), ("夏威夷果", "macadamia nuts")],
                     [("原味", "original"), ("盐焗", "salt-baked"), ("炭烧", "charcoal-roasted")],
                     sizes=("pack", [("500克", "500 g"), ("1千克", "1 kg")])),
                Leaf("sweets", ("糕点", "Pastries"), [("月饼", "mooncake"), ("蛋黄酥", "egg-yolk pastry")],
                     [("莲蓉", "lotus-seed paste"), ("豆沙", "red-bean"), ("五仁", "five-nut")],
                     sizes=("pack", [("4枚礼盒", "gift box of 4"), ("8枚礼盒", "gift box of 8")]),
                     origins=["广东", "福建"]),
            ]),
        ],
        "red",
    ),
    Root(
        "beauty", ("美妆", "Beauty"), ("beauty", "美妆部", "Beauty department"), "skin",
        [("温和", "gentle"), ("保湿", "hydrating"), ("清爽", "light")],
        ("温和不刺激", "kind to the skin"), [("保质期", "Shelf life", "3年", "3 years")],
        [
            ("skincare", ("护肤", "Skincare"), [
                Leaf("cleansers", ("洁面", "Cleansers"), [("洁面乳", "facial cleanser"), ("洁面泡沫", "cleansing foam")],
                     [("干性肌肤", "dry skin"), ("油性肌肤", "oily skin"), ("所有肤质", "all skin types")],
                     sizes=("pack", [("100毫升", "100 ml"), ("150毫升", "150 ml")])),
                Leaf("creams", ("面霜", "Creams"), [("保湿面霜", "moisturising cream"), ("精华液", "serum")],
                     [("干性肌肤", "dry skin"), ("敏感肌肤", "sensitive skin"), ("所有肤质", "all skin types")],
                     sizes=("pack", [("30毫升", "30 ml"), ("50毫升", "50 ml")])),
            ]),
        ],
        "white",
    ),
    Root(
        "sports", ("运动", "Sports"), ("sports", "运动部", "Sports department"), "material",
        [("轻量", "lightweight"), ("专业", "pro"), ("透气", "breathable")],
        ("轻盈有支撑", "light and supportive"), [("适用运动", "For", "跑步", "running")],
        [
            ("running", ("跑步", "Running"), [
                Leaf("running-shoes", ("跑鞋", "Running shoes"), [("跑鞋", "running shoes"), ("缓震跑鞋", "cushioned running shoes")],
                     [("网面", "mesh"), ("飞织", "knit")], ALL, ("size", SHOE_SIZES)),
                Leaf("running-wear", ("运动服", "Sportswear"), [("运动T恤", "sports T-shirt"), ("运动短裤", "running shorts")],
                     [("速干", "quick-dry"), ("纯棉", "cotton"), ("氨纶", "spandex")], ALL, ("size", CLOTHES_SIZES)),
            ]),
        ],
        "blue",
    ),
]  # fmt: skip

# How a product of each trait is named and described: (Chinese, English) formats.
NAMES = {
    "material": ("{brand} {adjective}{trait}{noun}", "{brand} {adjective} {trait} {noun}"),
    "flavour": ("{brand} {adjective}{trait}{noun}", "{brand} {adjective} {trait} {noun}"),
    "skin": ("{brand} {adjective}{noun}（{trait}适用）", "{brand} {adjective} {noun} for {trait}"),
}
DESCRIPTIONS = {
    "material": (
        "{brand}{noun}采用{trait}材质，{selling}，{adjective}设计，适合日常使用。",
        "The {brand} {noun}: made of {trait}, {selling}. A {adjective} design for every day.",
    ),
    "flavour": (
        "{brand}{noun}，{trait}口味，{selling}，{adjective}之选。",
        "The {brand} {noun}: {trait}, {selling}. A {adjective} choice for every day.",
    ),
    "skin": (
        "{brand}{noun}，适合{trait}，{selling}，{adjective}配方，日常护肤之选。",
        "The {brand} {noun}: for {trait}, {selling}. A {adjective} formula for every day.",
    ),
}
TRAIT_LINES = {
    "material": ("采用{trait}材质", "made of {trait}"),
    "flavour": ("{trait}口味", "{trait} flavour"),
    "skin": ("适合{trait}", "suited to {trait}"),
}


def product_text(rng: random.Random, root: Root, leaf: Leaf, brand: Pair) -> tuple[dict, Pair]:
    """A product's texts in both languages (Product field values) and its trait value, drawn
    from its own category's words only."""
    adjective, adjective_en = rng.choice(root.adjectives)
    noun, noun_en = rng.choice(leaf.nouns)
    trait, trait_en = rng.choice(leaf.traits)
    origin = rng.choice(leaf.origins)
    name_zh, name_en = NAMES[root.trait]
    line_zh, line_en = TRAIT_LINES[root.trait]
    selling, selling_en = root.selling_point
    words = {"adjective": adjective, "trait": trait, "noun": noun}
    words_en = {"adjective": adjective_en, "trait": trait_en, "noun": noun_en}
    label, label_en, _position = ATTRIBUTES[root.trait]
    specs = [
        {"name": label, "name_en": label_en, "value": trait, "value_en": trait_en},
        {"name": "产地", "name_en": "Made in", "value": origin, "value_en": PROVINCES_EN[origin]},
        *({"name": a, "name_en": b, "value": c, "value_en": d} for a, b, c, d in root.extra_specs),
    ]
    text = {
        "name": name_zh.format(brand=brand[0], **words),
        "name_en": name_en.format(brand=brand[1], **words_en),
        "summary": f"{adjective}{noun}，{line_zh.format(trait=trait)}，{selling}",
        "summary_en": f"{adjective_en.capitalize()} {noun_en}, {line_en.format(trait=trait_en)}, {selling_en}",
        "description": DESCRIPTIONS[root.trait][0].format(brand=brand[0], selling=selling, **words),
        "description_en": DESCRIPTIONS[root.trait][1].format(brand=brand[1], selling=selling_en, **words_en),
        "specifications": specs,
    }
    return text, (trait, trait_en)


def leaves() -> list[tuple[Root, Leaf]]:
    return [(root, leaf) for root in TREE for _code, _name, children in root.children for leaf in children]

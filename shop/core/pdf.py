"""PDF documents of the shop (invoices, statements, packing slips) with reportlab, in one
embedded Chinese font.

The font is shop/core/fonts/ShopSansSC-Regular.ttf: Noto Sans CJK SC (SIL OFL, OFL.txt beside
it) cut to Latin-1, GB2312 and CJK punctuation and converted to TrueType by bin/make_pdf_font.py.
reportlab embeds the glyphs a document uses (a subset, a few kilobytes), so the file prints the
same on any reader, printer or archive. Adobe's CID fonts (STSong-Light), used before, are not
embedded: a reader without the Asian font pack shows boxes, and an invoice may not depend on
that. Characters outside the font (rare hanzi beyond GB2312, emoji) print as an empty box.
"""

import functools
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace
from xml.sax import saxutils

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import SimpleDocTemplate, Table, TableStyle

from shop.core.money import format_money

FONT = "ShopSansSC"
FONT_FILE = Path(__file__).resolve().parent / "fonts" / "ShopSansSC-Regular.ttf"
MARGIN = 18 * mm


@functools.cache
def font() -> str:
    """Register the font with reportlab once per process (reading the file takes ~0.1 s) and
    return its name. The same face stands for bold and italic, so <b> in a Paragraph keeps
    working (the font has no bold cut; emphasis comes from size)."""
    pdfmetrics.registerFont(TTFont(FONT, str(FONT_FILE)))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT, italic=FONT, boldItalic=FONT)
    return FONT


@functools.cache
def styles() -> SimpleNamespace:
    """Paragraph styles: title, heading, text, small (grey), cell and cell_right (numbers)."""
    name = font()
    return SimpleNamespace(
        title=ParagraphStyle("title", fontName=name, fontSize=16, leading=20, spaceAfter=4 * mm),
        heading=ParagraphStyle(
            "heading", fontName=name, fontSize=12, leading=16, spaceBefore=3 * mm, spaceAfter=2 * mm
        ),
        text=ParagraphStyle("text", fontName=name, fontSize=10, leading=14),
        small=ParagraphStyle("small", fontName=name, fontSize=8, leading=11, textColor=colors.grey),
        cell=ParagraphStyle("cell", fontName=name, fontSize=9, leading=12),
        cell_right=ParagraphStyle("cell_right", fontName=name, fontSize=9, leading=12, alignment=TA_RIGHT),
    )


def escape(value) -> str:
    """Text for a Paragraph, which parses its text as markup: every value that goes into one
    (names, addresses, numbers typed by staff or customers, our own labels) is escaped, so "<b>"
    or "&" prints as typed instead of restyling the page or making the build raise. Quotes too,
    as a value can end up inside an attribute."""
    return saxutils.escape(str(value), {'"': "&quot;", "'": "&#39;"})


def money_text(amount) -> str:
    """¥1,234.50 (escaped, ready for a Paragraph or a table cell)."""
    return escape(format_money(amount))


def document(title: str, *, author: str = "shop", pagesize=A4) -> tuple[BytesIO, SimpleDocTemplate]:
    """A buffer and an A4 document writing into it: build a story, `doc.build(story)`, then
    `buffer.getvalue()` is the PDF."""
    font()
    buffer = BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=pagesize, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=16 * mm, bottomMargin=16 * mm,
        title=title, author=author,
    )  # fmt: skip
    return buffer, doc


def table_style(*, header: bool = True, totals: int = 0, right: tuple[int, ...] = (), size: int = 9) -> TableStyle:
    """The house table: the font everywhere, a grey header row, a grid over the body, the last
    `totals` rows (sums) without a grid, and the columns in `right` (numbers) right-aligned."""
    last_body = -1 - totals
    commands = [
        ("FONT", (0, 0), (-1, -1), font(), size),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("GRID", (0, 0), (-1, last_body), 0.4, colors.grey),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f0f0")))
    for column in right:
        commands.append(("ALIGN", (column, 0), (column, -1), "RIGHT"))
    return TableStyle(commands)


def table(rows: list, widths: list, *, header: bool = True, totals: int = 0, right: tuple[int, ...] = ()) -> Table:
    """A Table of `rows` (plain strings are drawn as is, without markup; wrap long text in a
    Paragraph with styles().cell) in the house style, its header repeated on every page."""
    built = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    built.setStyle(table_style(header=header, totals=totals, right=right))
    return built

"""The shop's PDFs embed their Chinese font (shop.core.pdf): a reader without Adobe's Asian font
pack (phone viewers, printers, archives) prints the same characters. The CID font used before
(STSong-Light) is only named in the file, never embedded: these tests fail with it."""

import re
import zlib

from reportlab.platypus import Paragraph

from shop.core import pdf


def _font_streams(body: bytes) -> list[bytes]:
    """The embedded TrueType programs (/FontFile2 streams), inflated."""
    found = []
    for match in re.finditer(rb"/FontFile2 (\d+) 0 R", body):
        obj = re.search(rb"\n" + match.group(1) + rb" 0 obj\s*<<(.*?)>>\s*stream\r?\n", body, re.S)
        start = obj.end()
        length = int(re.search(rb"/Length (\d+)", obj.group(1)).group(1))
        data = body[start : start + length]
        if b"/FlateDecode" in obj.group(1):
            data = zlib.decompress(data)
        found.append(data)
    return found


def _document(text: str) -> bytes:
    buffer, doc = pdf.document("测试")
    styles = pdf.styles()
    doc.build(
        [Paragraph(pdf.escape(text), styles.title), pdf.table([["商品", "金额"], ["杯子", "¥12.00"]], [100, 100])]
    )
    return buffer.getvalue()


def test_a_document_embeds_a_truetype_subset_of_the_shop_font():
    body = _document("电子普通发票 红字发票 统一社会信用代码 ¥1,234.50")
    assert b"/STSong-Light" not in body
    assert b"ShopSansSC" in body  # the font named in the file …
    streams = _font_streams(body)
    assert streams  # … and its program embedded, not left to the reader
    program = streams[0]
    assert program[:4] == b"\x00\x01\x00\x00"  # a TrueType font file
    # A subset (the glyphs used), not the whole 2 MB font.
    assert 1_000 < len(program) < 200_000


def test_chinese_text_maps_to_glyphs_of_the_font_not_to_its_missing_glyph():
    from reportlab.pdfbase import pdfmetrics

    face = pdfmetrics.getFont(pdf.font()).face
    for character in "电子普通发票红字统一社会信用代码退款￥¥，。：□":
        assert ord(character) in face.charToGlyph, character  # hence drawn, not a box
    body = _document("发票")
    # reportlab writes a ToUnicode map for an embedded subset: text can be copied and searched.
    assert b"/ToUnicode" in body

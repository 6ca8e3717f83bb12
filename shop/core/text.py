"""One rule for digits typed by people: postcodes, phone numbers, quantities, ids in forms.

A Chinese input method in full-width mode types "５１８０００" for 518000, so full-width digits
(U+FF10–U+FF19) are taken and turned into ASCII; what is stored is always ASCII. Every other
character Python calls a digit is refused: str.isdigit() and int() also accept superscripts
("²"), Arabic-Indic ("٣"), Devanagari and other scripts' digits, int() accepts "+3", "3_0" and
surrounding whitespace, and none of that belongs in a postcode or a quantity.
"""

import re

FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_ASCII_DIGITS = re.compile(r"[0-9]+")  # not \d: that matches every script's digits


def fold_digits(text: str) -> str:
    """`text` with full-width digits turned into ASCII ones; nothing else changes."""
    return text.translate(FULLWIDTH_DIGITS)


def digits_only(text: str) -> bool:
    """True when `text` is one or more ASCII digits and nothing else (fold first)."""
    return _ASCII_DIGITS.fullmatch(text) is not None


def parse_digits(raw: object) -> str | None:
    """The ASCII digit string a person typed (surrounding whitespace and full-width digits
    allowed), or None when it is anything else: empty, signs, decimals, other digits."""
    if not isinstance(raw, str):
        return None
    text = fold_digits(raw.strip())
    return text if digits_only(text) else None


MAX_NUMBER_DIGITS = 30  # int() refuses past 4300 digits with ValueError; no field needs a tenth


def parse_whole_number(raw: object) -> int | None:
    """A non-negative whole number typed by a person (see parse_digits), or None; None too for
    more than MAX_NUMBER_DIGITS digits."""
    text = parse_digits(raw)
    if text is None or len(text) > MAX_NUMBER_DIGITS:
        return None
    return int(text)

"""Mainland China phone numbers for delivery addresses, checked with phonenumbers (Google's
libphonenumber metadata, the "lite" build: no carrier or geocoding data, which we do not need).

Stored in national format, the way couriers and customers write them: a mobile as its 11 digits
(13800138000), a landline as trunk 0 + area code, a hyphen, the subscriber number
(020-12345678). Every address is in mainland China, so +86 would add nothing, and the carrier's
API and the packing slip print the number as it is stored. Typed +86, 0086, spaces, hyphens,
brackets and full-width digits are accepted and normalised."""

import re

import phonenumbers
from phonenumbers import PhoneNumberType

from shop.core.text import fold_digits

REGION = "CN"
_TYPED = re.compile(r"\+?[0-9 ()\-]+")
_ACCEPTED = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def phone_normalise(raw: str) -> str | None:
    """The number in the shop's stored form, or None when it is not a mainland mobile or landline
    number (too short or long, another country's, a 400 service number, letters)."""
    text = fold_digits((raw or "").strip())
    # phonenumbers reads every script's digits (١٣٨…); the shop's digit rule takes ASCII and
    # full-width ones only (shop.core.text), and nothing but the usual separators besides.
    if not text or len(text) > 30 or not _TYPED.fullmatch(text):
        return None
    try:
        number = phonenumbers.parse(text, REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number_for_region(number, REGION):
        return None
    kind = phonenumbers.number_type(number)
    if kind not in _ACCEPTED:
        return None
    national = phonenumbers.national_significant_number(number)
    if kind == PhoneNumberType.MOBILE or (kind == PhoneNumberType.FIXED_LINE_OR_MOBILE and len(national) == 11):
        return national
    area = phonenumbers.length_of_geographical_area_code(number)
    if not area:
        return None
    return f"0{national[:area]}-{national[area:]}"

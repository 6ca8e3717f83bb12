"""The confirm page's repeated parts rendered in Python: its radios, its lines and the labels of
the choice made.

The confirm page is on every purchase's path, and its loops were most of its template's cost (a
variable lookup, an {% if %}, a {% blocktranslate %} or {% price %} per value). These tags write
the very same HTML (the same strings, escaped as the template escaped them) in a fraction."""

import html

from django import template
from django.core.exceptions import NON_FIELD_ERRORS
from django.template.base import render_value_in_context
from django.template.defaultfilters import floatformat
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from shop.core.divisions import address_line
from shop.core.money import format_money

register = template.Library()


def esc(value) -> str:
    """conditional_escape(value), faster for a plain str (most of the page's values): Django's
    escape is html.escape of it, marked safe, through a lazy-string check and three calls more.
    Marked safe here by each tag's whole output."""
    return html.escape(value) if type(value) is str else conditional_escape(value)


@register.simple_tag
def shipping_choices(quotes, chosen) -> str:
    """The shipping radios: each method, its label, days and fee ("free" when none)."""
    days = gettext("%(d)s days")  # the template's {% blocktranslate %}{{ d }} days{% endblocktranslate %}
    free = gettext("free")
    return mark_safe(  # noqa: S308 - every value below is escaped
        "".join(
            f'<label class="check"><input type="radio" name="shipping_method" value="{esc(q.method)}" '
            f"{'checked' if q.method == chosen else ''}> {esc(q.label)} · {days % {'d': esc(q.days)}} · "
            f"{esc(format_money(q.fee)) if q.fee else esc(free)}</label>"
            for q in quotes
        )
    )


@register.simple_tag
def radios(name: str, options, with_disabled: bool = False) -> str:
    """A radio field's options (the form's address_options, payment_options: value, label,
    checked, disabled), each in its label; `disabled` written only when asked for."""
    return mark_safe(  # noqa: S308 - every value below is escaped; `name` is the template's own text
        "".join(
            f'<label class="check"><input type="radio" name="{name}" value="{esc(value)}"'
            f"{' checked' if checked else ''}{' disabled' if with_disabled and disabled else ''}> {esc(label)}</label>"
            for value, label, checked, disabled in options
        )
    )


@register.simple_tag
def shipping_label(quotes, chosen) -> str:
    """The chosen shipping method's label."""
    return mark_safe("".join(esc(q.label) for q in quotes if q.method == chosen))  # noqa: S308


@register.simple_tag
def label_of(choices, chosen) -> str:
    """The label of the chosen value among a field's (value, label) choices."""
    return mark_safe("".join(esc(label) for value, label in choices if value == chosen))  # noqa: S308


@register.simple_tag
def review_items(lines) -> str:
    """The lines: image, name, options and SKU, unit price × quantity and the line's total."""
    out = []
    for line in lines:
        product = line.variant.product
        if product.card_image:
            image = f'<img class="cl-image" src="{esc(product.card_image_url)}" alt="" width="56" height="56">'
        else:
            image = '<span class="cl-image noimg" aria-hidden="true"></span>'
        options = " / ".join(esc(o.display_value) for o in line.options)
        out.append(
            f"<li>\n      {image}\n"
            f'      <div class="ri-name">{esc(product.display_name)}<small class="muted">{options} · '
            f"{esc(line.variant.sku)}</small></div>\n"
            f'      <div class="ri-amount"><span class="muted">{esc(format_money(line.unit_price))} × '
            f"{line.line.quantity}</span><strong>{esc(format_money(line.line_total))}</strong></div>\n    </li>"
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


@register.simple_tag
def totals_list(t) -> str:
    """orders/partials/totals.html for the confirm page's totals `t` (subtotal, discount,
    shipping_fee, insurance_fee, total): the same HTML, with its blank lines where a row is left
    out. The include cost ~0.1 ms of the page (a context pushed, a {% translate %} and a {% price %}
    per row); the cart page and the order page still include the template."""

    def row(label: str, key: str, amount, sign: str = "") -> str:
        return f'<dt>{esc(label)}</dt><dd id="t-{key}">{sign}{esc(format_money(amount))}</dd>'

    discount = row(gettext("Coupon"), "discount", t.discount, "\u2212") if t.discount else ""
    insurance = row(gettext("Shipping insurance"), "insurance", t.insurance_fee) if t.insurance_fee else ""
    return mark_safe(  # noqa: S308 - every value is escaped
        f'<dl class="totals">\n  {row(gettext("Goods"), "subtotal", t.subtotal)}\n  {discount}\n'
        f"  {row(gettext('Shipping'), 'shipping', t.shipping_fee)}\n  {insurance}\n"
        f'  <dt class="grand">{esc(gettext("Total"))}</dt><dd class="grand price" id="t-total">'
        f"{esc(format_money(t.total))}</dd>\n</dl>\n"
    )


# -- the confirm page's per-request parts, each one tag (one {% live %} hole of the page's memo) --
# Each wrote through the template a variable lookup, an {% if %}, a {% translate %} or a filter
# at a time: ~0.4 ms of the page's render (py-spy under load). These write the very same HTML:
# every value is escaped as {{ value }} and {% blocktranslate %}'s values are (conditional_escape:
# what render_value_in_context does to a string; a number goes through it, to be localized as
# the template localized it), and a {% translate %}'s text is escaped as it escapes it.
# tests/cart/test_p17_same_html.py compares the page with the template as it was.


@register.simple_tag(takes_context=True)
def insurance_choice(context, form, fee, rate) -> str:
    """The insurance checkbox and its label: its fee and its rate per mille of the goods."""
    text = gettext("Insure the parcel for ¥%(fee)s (%(rate)s‰ of the goods value)") % {
        "fee": render_value_in_context(fee, context),
        "rate": render_value_in_context(floatformat(rate, 0), context),
    }
    checked = " checked" if form.value("insured") else ""
    return mark_safe(f'<input type="checkbox" name="insured" value="1" id="id_insured"{checked}> {text}')  # noqa: S308


@register.simple_tag(takes_context=True)
def payment_and_note(context, form) -> str:
    """The payment radios with their errors, the end of their fieldset, and the note's field."""
    return mark_safe(  # noqa: S308 - every value is escaped
        f"{radios('payment_method', form.payment_options, with_disabled=True)}"
        f"{field_errors(form, 'payment_method')}"
        f'</fieldset>\n    <div class="field"><label for="id_note">{esc(form.note_label)}'
        f'</label><input type="text" name="note" maxlength="200" id="id_note" value="'
        f'{esc(form.value("note") or "")}">{field_errors(form, "note")}</div>\n    '
    )


@register.simple_tag(takes_context=True)
def review_choices(context) -> str:
    """The choice reviewed beside the totals (address, shipping, payment, coupon, note), the
    totals, and the place form's hidden values, up to the invoice checkbox's end."""
    address, choice, cart, totals = context["address"], context["choice"], context["cart"], context["totals"]
    out = [f"{esc(address.recipient)} {esc(address.phone)}<br>{esc(address_line(address))}</dd>\n      "]
    if choice:
        # A choice's value the form refused since (the wallet short for it) is missing: "", as
        # the template's lookup of it was.
        insured = f" · {esc(gettext('insured'))}" if choice.get("insured") else ""
        out.append(
            f'<dt>{esc(gettext("Shipping"))}</dt><dd id="review-shipping">'
            f"{shipping_label(context['quotes'], choice.get('shipping_method', ''))}{insured}</dd>\n      "
            f'<dt>{esc(gettext("Payment"))}</dt><dd id="review-payment">'
            f"{label_of(context['form'].payment_choices, choice.get('payment_method', ''))}</dd>"
        )
    out.append("\n      ")
    if cart.coupon_code:
        out.append(f'<dt>{esc(gettext("Coupon"))}</dt><dd id="review-coupon">{esc(cart.coupon_code)}</dd>')
    out.append("\n      ")
    if choice and choice.get("note"):
        out.append(f'<dt>{esc(gettext("Note to the shop"))}</dt><dd id="review-note">{esc(choice["note"])}</dd>')
    out.append("\n    </dl>\n    ")
    if totals:
        out.append(f"{totals_list(totals)}\n    ")
        if totals.coupon_error:
            out.append(f'<p class="form-error">{esc(totals.coupon_error)}</p>')
    out.append(
        f'\n    <input type="hidden" name="cart" value="{esc(cart.token)}">\n'
        f'    <input type="hidden" name="shown" value="{esc(context["shown"])}">\n'
        f'    <input type="hidden" name="total" value="{esc(context["shown_total"])}">\n'
        '    <label class="check" for="want-invoice"><input type="checkbox" name="invoice" value="1" '
        f'id="want-invoice"{" checked" if context["invoice"] else ""}>'
    )
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped


@register.simple_tag(takes_context=True)
def place_note(context) -> str:
    """What placing the order does (completes it, pays from the wallet, the courier collects,
    or pay online next), when it can be placed; then the place button's start."""
    out = "\n    "
    if context["can_place"]:
        totals, method = context["totals"], context["choice"].get("payment_method", "")
        if not totals.total:
            text = esc(gettext("Placing the order completes it: there is nothing to pay."))
        elif method == "wallet":
            text = gettext("Placing the order completes it: %(total)s is paid from your wallet at once.") % {
                "total": esc(format_money(totals.total))
            }
        elif method == "cod":
            text = gettext("Placing the order completes it: you pay the courier in cash when the parcel arrives.")
            text = esc(text)
        else:
            text = None
        if text is None:  # the template's {% else %}: no line break after it
            online = esc(gettext("You pay online on the next page."))
            out += f'<p class="muted" id="pay-next-note">{online}</p>'
        else:
            out += f'<p id="one-step-note">{text}</p>\n    '
    disabled = "" if context["can_place"] else " disabled"
    return mark_safe(f'{out}\n    <button type="submit" class="primary block" id="place-order"{disabled}>')  # noqa: S308


@register.simple_tag
def field_errors(form, name: str) -> str:
    """{% if form.<name>.errors %}{{ form.<name>.errors }}{% endif %}, without a BoundField and
    an empty ErrorList made per lookup."""
    errors = form.errors.get(name)
    return esc(errors) if errors else ""


@register.simple_tag(takes_context=True)
def non_field_errors(context, form) -> str:
    """{% for error in form.non_field_errors %}<p class="form-error">{{ error }}</p>{% endfor %}"""
    errors = form.errors.get(NON_FIELD_ERRORS)
    if not errors:
        return ""
    return mark_safe(  # noqa: S308 - every value is escaped
        "".join(f'<p class="form-error">{render_value_in_context(error, context)}</p>' for error in errors)
    )

"""The confirm page's repeated parts rendered in Python: its radios, its lines and the labels of
the choice made.

The confirm page is on every purchase's path, and its loops were most of its template's cost (a
variable lookup, an {% if %}, a {% blocktranslate %} or {% price %} per value). These tags write
the very same HTML (the same strings, escaped as the template escaped them) in a fraction."""

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from shop.core.money import format_money

register = template.Library()


@register.simple_tag
def shipping_choices(quotes, chosen) -> str:
    """The shipping radios: each method, its label, days and fee ("free" when none)."""
    days = gettext("%(d)s days")  # the template's {% blocktranslate %}{{ d }} days{% endblocktranslate %}
    free = gettext("free")
    esc = conditional_escape
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
    """A radio field's options (CheckoutForm.address_options, payment_options: value, label,
    checked, disabled), each in its label; `disabled` written only when asked for."""
    esc = conditional_escape
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
    return mark_safe("".join(conditional_escape(q.label) for q in quotes if q.method == chosen))  # noqa: S308


@register.simple_tag
def label_of(choices, chosen) -> str:
    """The label of the chosen value among a field's (value, label) choices."""
    return mark_safe("".join(conditional_escape(label) for value, label in choices if value == chosen))  # noqa: S308


@register.simple_tag
def review_items(lines) -> str:
    """The lines: image, name, options and SKU, unit price × quantity and the line's total."""
    esc = conditional_escape
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
    esc = conditional_escape

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

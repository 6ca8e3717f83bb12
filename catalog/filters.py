"""Listing filters: price range, brands, attribute values, in stock only, and the sort."""

from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from catalog.models import AttributeValue, Brand
from catalog.selectors import SORTS

SORT_CHOICES = [
    ("relevance", _("Relevance")),
    ("popular", _("Popularity")),
    ("price_asc", _("Price: low to high")),
    ("price_desc", _("Price: high to low")),
    ("newest", _("Newest")),
    ("rating", _("Best rated")),
]


# The query parameters that filter or sort a listing; a visit with none of them parses nothing.
FILTER_PARAMS = frozenset({"min_price", "max_price", "brand", "av", "in_stock", "sort"})

# The fields that parse and validate them, built once per process. They were a django-filter
# FilterSet, bound per request: it deep-copied its filters and its form's fields every time,
# about 1.5 ms of a filtered listing's 12. A field's clean() keeps no state, so the same
# fields serve every request, with Django's own messages. No ordering: it would join the
# attribute table to check a value's id.
_FIELDS: dict[str, forms.Field] = {
    "min_price": forms.DecimalField(required=False, min_value=0, max_digits=12, decimal_places=2, label=_("Min price")),
    "max_price": forms.DecimalField(required=False, min_value=0, max_digits=12, decimal_places=2, label=_("Max price")),
    "brand": forms.ModelMultipleChoiceField(
        queryset=Brand.objects.only("id", "name", "name_en").order_by(), required=False, label=_("Brand")
    ),
    "av": forms.ModelMultipleChoiceField(
        queryset=AttributeValue.objects.only("id", "attribute_id").order_by(), required=False, label=_("Attributes")
    ),
    "in_stock": forms.NullBooleanField(required=False, widget=forms.CheckboxInput, label=_("In stock only")),
    "sort": forms.ChoiceField(choices=SORT_CHOICES, required=False, label=_("Sort by")),
}
_EMPTY = {"min_price": None, "max_price": None, "brand": [], "av": [], "in_stock": False, "sort": ""}


@dataclass
class ListingFilters:
    """A listing's filters as chosen: `cleaned` as catalog.selectors.FacetChoice.from_cleaned
    reads it (prices, Brand and AttributeValue rows, in stock, the sort), `errors` one line per
    parameter dropped for not validating, `prices` the price boxes' text as typed."""

    cleaned: dict = field(default_factory=lambda: dict(_EMPTY))
    errors: list[str] = field(default_factory=list)
    prices: tuple[str | None, str | None] = (None, None)


def listing_filters_parse(params: QueryDict) -> ListingFilters:
    """Parse a listing's query string. A parameter that does not validate is dropped and said
    why, so one bad parameter never costs the visitor the whole page; a maximum price below the
    minimum drops both. The brand and attribute value ids cost a query each when given."""
    cleaned, failed = dict(_EMPTY), {}
    for name, parser in _FIELDS.items():
        if name not in params:
            continue
        try:
            cleaned[name] = parser.clean(parser.widget.value_from_datadict(params, {}, name))
        except ValidationError as exc:
            failed[name] = exc.messages
    low, high = cleaned["min_price"], cleaned["max_price"]
    if low is not None and high is not None and low > high:
        failed["max_price"] = [_("The maximum price must not be below the minimum.")]
    if "max_price" in failed:
        failed.setdefault("min_price", [])  # its box is emptied with the maximum's
    errors = []
    for name, messages in failed.items():
        cleaned[name] = _EMPTY[name]
        errors.extend(f"{_FIELDS[name].label}: {m}" for m in messages)
    prices = tuple(
        None if name in failed else _FIELDS[name].widget.value_from_datadict(params, {}, name)
        for name in ("min_price", "max_price")
    )
    return ListingFilters(cleaned=cleaned, errors=errors, prices=prices)


def apply_sort(queryset: QuerySet, sort: str, *, ranked: bool) -> QuerySet:
    if sort == "relevance":
        return queryset.order_by("-rank", "-sales_count", "-id") if ranked else queryset.order_by(*SORTS["popular"])
    return queryset.order_by(*SORTS.get(sort, SORTS["popular"]))

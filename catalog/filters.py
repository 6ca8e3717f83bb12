"""Listing filters: price range, brands, attribute values, in stock only, and the sort."""

from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from catalog.models import AttributeValue, Brand
from catalog.selectors import SORTS, Taxonomy, taxonomy_current

SORT_CHOICES = [
    ("relevance", _("Relevance")),
    ("popular", _("Popularity")),
    ("price_asc", _("Price: low to high")),
    ("price_desc", _("Price: high to low")),
    ("newest", _("Newest")),
    ("rating", _("Best rated")),
]


class _TaxonomyChoices(forms.ModelMultipleChoiceField):
    """A ModelMultipleChoiceField whose rows are looked up among the process's taxonomy
    (catalog.selectors.Taxonomy: every brand, every attribute value) instead of queried: the
    same validation, messages and order of checks (Django's clean and _check_values), no query.
    The rows come back as a list ordered by id, not a queryset."""

    def clean_among(self, value, rows: dict) -> list:
        value = self.prepare_value(value)
        if not value:  # never required
            return []
        if not isinstance(value, (list, tuple)):
            raise ValidationError(self.error_messages["invalid_list"], code="invalid_list")
        try:
            value = frozenset(value)
        except TypeError:
            raise ValidationError(self.error_messages["invalid_list"], code="invalid_list") from None
        for pk in value:
            self.validate_no_null_characters(pk)
            try:
                self.queryset.filter(pk=pk)  # builds, runs nothing: Django's check of a valid pk
            except (ValueError, TypeError):
                raise ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk}
                ) from None
        found = {}
        for pk in value:
            try:
                row = rows.get(int(pk))  # what pk__in finds: the ids the values convert to
            except (ValueError, TypeError):
                row = None
            if row is not None:
                found[row.pk] = row
        pks = {str(pk) for pk in found}
        for val in value:
            if str(val) not in pks:
                raise ValidationError(
                    self.error_messages["invalid_choice"], code="invalid_choice", params={"value": val}
                )
        self.run_validators(value)
        return [found[pk] for pk in sorted(found)]


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
    "brand": _TaxonomyChoices(
        queryset=Brand.objects.only("id", "name", "name_en").order_by(), required=False, label=_("Brand")
    ),
    "av": _TaxonomyChoices(
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


def listing_filters_parse(params: QueryDict, *, taxonomy: Taxonomy | None = None) -> ListingFilters:
    """Parse a listing's query string. A parameter that does not validate is dropped and said
    why, so one bad parameter never costs the visitor the whole page; a maximum price below the
    minimum drops both. The brand and attribute value ids are looked up in the taxonomy (the
    request's, else the current one): no query of their own."""
    cleaned, failed = dict(_EMPTY), {}
    for name, parser in _FIELDS.items():
        if name not in params:
            continue
        try:
            raw = parser.widget.value_from_datadict(params, {}, name)
            if isinstance(parser, _TaxonomyChoices):
                taxonomy = taxonomy or taxonomy_current()
                cleaned[name] = parser.clean_among(raw, taxonomy.brands if name == "brand" else taxonomy.values)
            else:
                cleaned[name] = parser.clean(raw)
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

"""Listing filters: price range, brands, attribute values, in stock only, and the sort."""

from collections import defaultdict

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext_lazy as _

from catalog.models import AttributeValue, Brand, Product
from catalog.selectors import SORTS

SORT_CHOICES = [
    ("relevance", _("Relevance")),
    ("popular", _("Popularity")),
    ("price_asc", _("Price: low to high")),
    ("price_desc", _("Price: high to low")),
    ("newest", _("Newest")),
    ("rating", _("Best rated")),
]


class ListingForm(forms.Form):
    def clean(self) -> dict:
        data = super().clean()
        low, high = data.get("min_price"), data.get("max_price")
        if low is not None and high is not None and low > high:
            self.add_error("max_price", _("The maximum price must not be below the minimum."))
        return data


class ProductFilter(django_filters.FilterSet):
    min_price = django_filters.NumberFilter(
        field_name="price", lookup_expr="gte", min_value=0, max_digits=12, decimal_places=2, label=_("Min price")
    )
    max_price = django_filters.NumberFilter(
        field_name="price", lookup_expr="lte", min_value=0, max_digits=12, decimal_places=2, label=_("Max price")
    )
    brand = django_filters.ModelMultipleChoiceFilter(queryset=Brand.objects.all(), field_name="brand", label=_("Brand"))
    av = django_filters.ModelMultipleChoiceFilter(
        queryset=AttributeValue.objects.all(), method="filter_attribute_values", label=_("Attributes")
    )
    in_stock = django_filters.BooleanFilter(
        method="filter_in_stock", widget=forms.CheckboxInput, label=_("In stock only")
    )
    sort = django_filters.ChoiceFilter(choices=SORT_CHOICES, method="filter_noop", label=_("Sort by"), empty_label=None)

    class Meta:
        model = Product
        fields: list[str] = []
        form = ListingForm

    def filter_attribute_values(self, queryset: QuerySet, name: str, values) -> QuerySet:
        # Values of one attribute widen the choice (red OR blue); attributes narrow it
        # (red AND cotton). EXISTS per attribute keeps one row per product.
        by_attribute: dict[int, list[int]] = defaultdict(list)
        for value in values:
            by_attribute[value.attribute_id].append(value.pk)
        through = Product.attribute_values.through
        for ids in by_attribute.values():
            queryset = queryset.filter(
                Exists(through.objects.filter(product_id=OuterRef("pk"), attributevalue_id__in=ids))
            )
        return queryset

    def filter_in_stock(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(in_stock=True) if value else queryset

    def filter_noop(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset  # ordering is applied by the view after filtering


def apply_sort(queryset: QuerySet, sort: str, *, ranked: bool) -> QuerySet:
    if sort == "relevance":
        return queryset.order_by("-rank", "-sales_count", "-id") if ranked else queryset.order_by(*SORTS["popular"])
    return queryset.order_by(*SORTS.get(sort, SORTS["popular"]))

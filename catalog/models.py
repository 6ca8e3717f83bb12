"""The catalogue: what is sold, how it is organised, and by whom it is made and owned.

Products carry a few denormalised columns (price, in_stock, card_image, counters and the
search vector) so that a listing page is one query on one table; services keep them right.
"""

import contextlib
import functools
import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.fields.files import ImageFieldFile
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from PIL import Image, UnidentifiedImageError
from treebeard.mp_tree import MP_Node

from catalog.validators import validate_product_image


def english() -> bool:
    """Whether the current request (or mail) is in English: the only other language we ship."""
    return (translation.get_language() or "").startswith("en")


def bilingual(chinese: str, english_text: str) -> str:
    """The English text on English pages when there is one; the Chinese otherwise (the shop's
    language, always filled in)."""
    return english_text if english_text and english() else chinese


class Bilingual(models.Model):
    """A name in Chinese (the shop's language) and optionally in English.

    Catalogue text is stored twice, `x` and `x_en`, read through `display_x` properties: two fixed
    languages, so one column each (docs/architecture.md, "Catalogue text in two languages")."""

    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)

    class Meta:
        abstract = True

    @property
    def display_name(self) -> str:
        return bilingual(self.name, self.name_en)

    def __str__(self) -> str:
        return self.name


class Department(models.Model):
    """A counter that owns products and is settled with every month."""

    code = models.SlugField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    contact_email = models.EmailField(_("contact email"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    # Department staff (a role): they read only this department's products, order lines and
    # statements (catalog.selectors.staff_department_ids).
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="staff_departments", verbose_name=_("department staff")
    )

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        return bilingual(self.name, self.name_en)


class CommissionRate(models.Model):
    """佣金: the share of a department's sales the shop keeps, from a date on. A line is charged
    the rate in force on the day its order was placed; a new rate never changes old sales."""

    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="commission_rates", verbose_name=_("department")
    )
    rate = models.DecimalField(
        _("rate"), max_digits=5, decimal_places=4, help_text=_("A fraction: 0.0500 is 5%."),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )  # fmt: skip
    valid_from = models.DateField(_("valid from"))

    class Meta:
        verbose_name = _("commission rate")
        verbose_name_plural = _("commission rates")
        ordering = ["department", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["department", "valid_from"], name="commission_rate_one_per_day"),
            models.CheckConstraint(condition=Q(rate__gte=0) & Q(rate__lte=1), name="commission_rate_fraction"),
        ]

    def __str__(self) -> str:
        return f"{self.department_id}: {self.rate} from {self.valid_from}"


class Supplier(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    contact_name = models.CharField(_("contact"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    email = models.EmailField(_("email"), blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("supplier")
        verbose_name_plural = _("suppliers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Brand(Bilingual):
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    manufacturer = models.CharField(_("manufacturer"), max_length=200, blank=True)
    manufacturer_en = models.CharField(_("manufacturer in English"), max_length=200, blank=True)
    country = models.CharField(_("country of origin"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("brand")
        verbose_name_plural = _("brands")
        ordering = ["name"]

    @property
    def display_manufacturer(self) -> str:
        return bilingual(self.manufacturer, self.manufacturer_en)


class Category(MP_Node, Bilingual):
    """A node of the category tree (materialised path: ancestors in one query)."""

    slug = models.SlugField(_("slug"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    description_en = models.TextField(_("description in English"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    # Consumer Rights Protection Law art. 25: online purchases may be returned without a reason
    # within 7 days, except perishable, custom-made, hygiene and similar goods.
    no_reason_returns = models.BooleanField(
        _("7-day no-reason returns"),
        default=True,
        help_text=_("Untick for perishable, custom-made or hygiene goods. A product may override it."),
    )

    node_order_by = ["name"]

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def get_absolute_url(self) -> str:
        # Listings link their subcategories and breadcrumbs: reverse() once, then join strings.
        return _category_url_prefix() + self.slug + "/"

    @property
    def display_description(self) -> str:
        return bilingual(self.description, self.description_en)


class Attribute(Bilingual):
    """A kind of option or property: colour, size, material. Filterable ones become facets."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    is_filter = models.BooleanField(_("usable as a filter"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("attribute")
        verbose_name_plural = _("attributes")
        ordering = ["position", "code"]


class AttributeValue(models.Model):
    attribute = models.ForeignKey(
        Attribute, on_delete=models.CASCADE, related_name="values", verbose_name=_("attribute")
    )
    value = models.CharField(_("value"), max_length=100)
    value_en = models.CharField(_("English value"), max_length=100, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("attribute value")
        verbose_name_plural = _("attribute values")
        ordering = ["attribute__position", "position", "value"]
        constraints = [models.UniqueConstraint(fields=["attribute", "value"], name="attribute_value_unique")]

    @property
    def display_value(self) -> str:
        return bilingual(self.value, self.value_en)

    def __str__(self) -> str:
        return f"{self.attribute.name}: {self.value}"


SPEC_KEYS = ("name", "name_en", "value", "value_en")


def spec_rows(value) -> list[dict[str, str]]:
    """Specifications as rows of SPEC_KEYS; an old [label, value] pair becomes a Chinese-only
    row and anything else is dropped."""
    rows = []
    for item in value if isinstance(value, (list, tuple)) else ():
        if isinstance(item, dict):
            rows.append({key: str(item.get(key) or "") for key in SPEC_KEYS})
        elif isinstance(item, (list, tuple)) and len(item) >= 2:
            rows.append({"name": str(item[0]), "name_en": "", "value": str(item[1]), "value_en": ""})
    return rows


class Product(Bilingual):
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="products", verbose_name=_("category")
    )
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="products", verbose_name=_("brand"))
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="products", verbose_name=_("department")
    )
    supplier = models.ForeignKey(
        Supplier,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="products",
        verbose_name=_("supplier"),
    )
    slug = models.SlugField(_("slug"), max_length=220, unique=True)
    summary = models.CharField(_("summary"), max_length=300, blank=True)
    summary_en = models.CharField(_("summary in English"), max_length=300, blank=True)
    description = models.TextField(_("description"), blank=True)
    description_en = models.TextField(_("description in English"), blank=True)
    # Rows of {"name", "name_en", "value", "value_en"} (catalog.specs), on the product row so
    # the product page reads them without another query; the admin edits them as rows.
    specifications = models.JSONField(_("specifications"), default=list, blank=True)
    attribute_values = models.ManyToManyField(
        AttributeValue, blank=True, related_name="products", verbose_name=_("attributes")
    )
    is_active = models.BooleanField(_("active"), default=True)
    # None: as the category says.
    no_reason_returns = models.BooleanField(
        _("7-day no-reason returns"),
        null=True,
        blank=True,
        help_text=_("Leave unknown to follow the category."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    # Denormalised for one-table listings; kept by catalog.services and fulfillment.
    price = models.DecimalField(_("from price"), max_digits=12, decimal_places=2, default=0, editable=False)
    compare_at_price = models.DecimalField(
        _("compare-at price"), max_digits=12, decimal_places=2, null=True, blank=True, editable=False
    )
    in_stock = models.BooleanField(_("in stock"), default=False, editable=False)
    card_image = models.CharField(max_length=255, blank=True, editable=False)
    view_count = models.PositiveIntegerField(_("views"), default=0, editable=False)
    sales_count = models.PositiveIntegerField(_("sold"), default=0, editable=False)
    # Reviews, kept by aftersales with one atomic UPDATE per review (never read-then-write).
    rating_count = models.PositiveIntegerField(_("reviews"), default=0, editable=False)
    rating_sum = models.PositiveIntegerField(default=0, editable=False)
    rating = models.DecimalField(_("rating"), max_digits=3, decimal_places=2, default=0, editable=False)
    search_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        indexes = [
            models.Index(fields=["category", "-sales_count"], name="product_cat_popular", condition=Q(is_active=True)),
            models.Index(fields=["category", "price"], name="product_cat_price", condition=Q(is_active=True)),
            models.Index(fields=["category", "-created_at"], name="product_cat_new", condition=Q(is_active=True)),
            models.Index(fields=["-sales_count"], name="product_popular", condition=Q(is_active=True)),
            models.Index(fields=["-view_count"], name="product_viewed", condition=Q(is_active=True)),
            models.Index(fields=["-created_at"], name="product_newest", condition=Q(is_active=True)),
            models.Index(fields=["-rating", "-rating_count"], name="product_rated", condition=Q(is_active=True)),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative"),
        ]

    def get_absolute_url(self) -> str:
        # Listings link 24+ products per page: reverse() once, then join strings.
        return _product_url_prefix() + self.slug + "/"

    @property
    def card_image_url(self) -> str:
        return f"{settings.MEDIA_URL}{self.card_image}" if self.card_image else ""

    @property
    def on_sale(self) -> bool:
        return bool(self.compare_at_price and self.compare_at_price > self.price)

    @property
    def display_summary(self) -> str:
        return bilingual(self.summary, self.summary_en)

    @property
    def display_description(self) -> str:
        return bilingual(self.description, self.description_en)

    @property
    def display_specifications(self) -> list[tuple[str, str]]:
        """(label, value) rows in the current language, each falling back to its Chinese."""
        en = english()
        return [
            ((en and row["name_en"]) or row["name"], (en and row["value_en"]) or row["value"])
            for row in spec_rows(self.specifications)
        ]


@functools.cache
def _product_url_prefix() -> str:
    return reverse("catalog:product", kwargs={"slug": "x"})[:-2]


@functools.cache
def _category_url_prefix() -> str:
    return reverse("catalog:category", kwargs={"slug": "x"})[:-2]


class ProductVariant(models.Model):
    """What is actually bought: one SKU with its options, price and weight."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants", verbose_name=_("product"))
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    options = models.ManyToManyField(AttributeValue, blank=True, related_name="variants", verbose_name=_("options"))
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2)
    compare_at_price = models.DecimalField(
        _("compare-at price"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("The former or list price, shown struck through when higher than the price."),
    )
    weight_grams = models.PositiveIntegerField(_("weight (g)"), default=0)
    low_stock_threshold = models.PositiveIntegerField(_("low stock at"), default=settings.CATALOG_LOW_STOCK_DEFAULT)
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["position", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="variant_price_not_negative"),
            models.CheckConstraint(
                condition=Q(compare_at_price__isnull=True) | Q(compare_at_price__gte=0),
                name="variant_compare_at_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.sku


class StockStatus(models.TextChoices):
    IN_STOCK = "in_stock", _("In stock")
    LOW = "low", _("Only a few left")
    OUT = "out", _("Out of stock")


def stock_status(available: int, low_threshold: int) -> StockStatus:
    if available <= 0:
        return StockStatus.OUT
    if available <= low_threshold:
        return StockStatus.LOW
    return StockStatus.IN_STOCK


# The stored file's extension: the format Pillow finds in the file (validators.ALLOWED_FORMATS).
IMAGE_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
UNKNOWN_EXTENSION = "bin"


def image_extension(content) -> str:
    """The extension for a file's content as Pillow reads it; "bin" for anything else (a file
    saved without validation). Reads the header only and leaves the file at its start."""
    try:
        content.seek(0)
        with Image.open(content) as image:
            fmt = image.format
    except (AttributeError, ValueError, OSError, UnidentifiedImageError, Image.DecompressionBombError):
        fmt = None
    finally:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            content.seek(0)  # the storage reads it from the start
    return IMAGE_EXTENSIONS.get(fmt, UNKNOWN_EXTENSION)


class GeneratedNameImageFieldFile(ImageFieldFile):
    def save(self, name, content, save=True):
        # Every way of storing a file (a model form, Model.save(), field.save(name, content))
        # comes through here: the client's name stops now, and upload_to gets only an extension
        # taken from the content.
        super().save(f"upload.{image_extension(content)}", content, save)


class GeneratedNameImageField(models.ImageField):
    """An ImageField whose stored names never come from the client: upload_to gets
    "upload.<extension of the format in the file>" instead of the name the client sent."""

    attr_class = GeneratedNameImageFieldFile


def product_image_path(instance: "ProductImage", filename: str) -> str:
    """products/<product id>/<random hex>.<extension>.

    The client's file name is dropped: it can carry a path ("../../x"), a double extension
    ("evil.php.jpg") a web server might honour, or a customer's name, and it would be served
    back as typed. Only an extension of IMAGE_EXTENSIONS is kept from `filename` (which
    GeneratedNameImageField makes from the file's content), anything else becomes "bin"."""
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    if extension not in IMAGE_EXTENSIONS.values():
        extension = UNKNOWN_EXTENSION
    return f"products/{instance.product_id or 'new'}/{uuid.uuid4().hex}.{extension}"


class ProductImage(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images", verbose_name=_("product"))
    variant = models.ForeignKey(
        ProductVariant,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="images",
        verbose_name=_("variant"),
        help_text=_("Shown when this variant is chosen (e.g. the red one)."),
    )
    image = GeneratedNameImageField(
        _("image"), upload_to=product_image_path, validators=[validate_product_image], max_length=255
    )
    alt = models.CharField(_("alternative text"), max_length=200, blank=True)
    alt_en = models.CharField(_("alternative text in English"), max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    # {"thumbnail": "path", "listing": "path", "zoom": "path"}, built by a Celery task.
    renditions = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        verbose_name = _("image")
        verbose_name_plural = _("images")
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.image.name

    def rendition_url(self, size: str) -> str:
        name = self.renditions.get(size)
        return f"{settings.MEDIA_URL}{name}" if name else ""

    @property
    def display_alt(self) -> str:
        return bilingual(self.alt, self.alt_en)

    @property
    def thumbnail_url(self) -> str:
        return self.rendition_url("thumbnail")

    @property
    def listing_url(self) -> str:
        return self.rendition_url("listing")

    @property
    def zoom_url(self) -> str:
        return self.rendition_url("zoom")


class StockAlert(models.Model):
    """A customer's "tell me when it is back" for an out-of-stock variant. Open until it is
    notified (one mail, through the outbox) or the customer cancels it (the row is deleted);
    asking again after a notification opens a new alert."""

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stock_alerts", verbose_name=_("customer")
    )
    variant = models.ForeignKey(
        ProductVariant, on_delete=models.CASCADE, related_name="stock_alerts", verbose_name=_("variant")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)

    class Meta:
        verbose_name = _("stock alert")
        verbose_name_plural = _("stock alerts")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One open alert per customer and variant; notified ones stay as history.
            models.UniqueConstraint(
                fields=["customer", "variant"], condition=Q(notified_at__isnull=True), name="stock_alert_one_open"
            ),
        ]
        indexes = [
            # The notifier reads a variant's open alerts on every restock.
            models.Index(fields=["variant"], condition=Q(notified_at__isnull=True), name="stock_alert_open"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} → {self.variant_id}"


class Favourite(models.Model):
    """收藏: a product a customer keeps to come back to."""

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites", verbose_name=_("customer")
    )
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="favourited_by", verbose_name=_("product")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("favourite")
        verbose_name_plural = _("favourites")
        constraints = [models.UniqueConstraint(fields=["customer", "product"], name="favourite_once")]
        # The favourites page lists a customer's newest first.
        indexes = [models.Index(fields=["customer", "-created_at", "-id"], name="favourite_recent")]

    def __str__(self) -> str:
        return f"{self.customer_id} ♥ {self.product_id}"


class ProductView(models.Model):
    """A product a signed-in customer looked at lately: the database's copy of their recently
    viewed list, which product pages keep in the cache (catalog.services). The recommendations
    task copies changed lists here and reads them as the "viewed" half of a customer's interests."""

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("customer")
    )
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", verbose_name=_("product"))
    position = models.PositiveSmallIntegerField(_("position"))  # 0: the latest

    class Meta:
        verbose_name = _("product view")
        verbose_name_plural = _("product views")
        # Its index serves "this customer's rows" too: a customer has at most 20.
        constraints = [models.UniqueConstraint(fields=["customer", "product"], name="product_view_once")]

    def __str__(self) -> str:
        return f"{self.customer_id} viewed {self.product_id}"


class BoughtTogether(models.Model):
    """买了又买: another product paid for in the same orders as `product`, best first. Written
    whole by the recommendations task (orders.recommendations); pages only read it."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", verbose_name=_("product"))
    other = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="bought_with", verbose_name=_("bought with it")
    )
    orders = models.PositiveIntegerField(_("orders"))  # paid orders holding both, in the window
    position = models.PositiveSmallIntegerField(_("position"))  # 1: the most often together

    class Meta:
        verbose_name = _("bought together")
        verbose_name_plural = _("bought together")
        # Its index serves the product page's read (a product has a handful of rows).
        constraints = [models.UniqueConstraint(fields=["product", "other"], name="bought_together_pair")]

    def __str__(self) -> str:
        return f"{self.product_id} + {self.other_id}"


class Recommendation(models.Model):
    """为你推荐: a product picked for a customer from the categories and brands they viewed and
    bought (never one they bought), best first. Written by the recommendations task."""

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("customer")
    )
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="recommended_to", verbose_name=_("product")
    )
    position = models.PositiveSmallIntegerField(_("position"))  # 1: the best

    class Meta:
        verbose_name = _("recommendation")
        verbose_name_plural = _("recommendations")
        constraints = [models.UniqueConstraint(fields=["customer", "product"], name="recommendation_once")]

    def __str__(self) -> str:
        return f"{self.customer_id} → {self.product_id}"

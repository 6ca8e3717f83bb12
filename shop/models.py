"""Customer accounts: people sign in with their email address; a phone number is optional."""

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CustomerManager(UserManager):
    def _create_user(self, username, email, password, **extra_fields):
        # The email is the login; a username is kept only for the admin's display.
        email = self.normalize_email(email or username)
        return super()._create_user(email, email, password, **extra_fields)

    def create_user(self, email=None, password=None, **extra_fields):
        extra_fields.pop("username", None)
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, email, password, **extra_fields)

    def create_superuser(self, email=None, password=None, **extra_fields):
        extra_fields.pop("username", None)
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, email, password, **extra_fields)


class User(AbstractUser):
    email = models.EmailField(_("email address"), unique=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    language = models.CharField(_("language"), max_length=10, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = CustomerManager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email


class PostalAddress(models.Model):
    """A Chinese delivery address: the address book's entries and the copy each order keeps."""

    recipient = models.CharField(_("recipient"), max_length=50)
    phone = models.CharField(_("phone"), max_length=20)
    province = models.CharField(_("province"), max_length=30)
    city = models.CharField(_("city"), max_length=30)
    district = models.CharField(_("district"), max_length=30, blank=True)
    street = models.CharField(_("street address"), max_length=200)
    postcode = models.CharField(_("postcode"), max_length=10, blank=True)

    SNAPSHOT_FIELDS = ("recipient", "phone", "province", "city", "district", "street", "postcode")

    class Meta:
        abstract = True

    @property
    def one_line(self) -> str:
        return " ".join(p for p in (self.province, self.city, self.district, self.street, self.postcode) if p)

    def snapshot(self) -> dict:
        """The fields an order copies, so later edits to the address book leave orders alone."""
        return {name: getattr(self, name) for name in self.SNAPSHOT_FIELDS}


class Address(PostalAddress):
    """An entry of a customer's address book, one of them the default.

    Province, city and district are chosen from the national administrative divisions
    (shop.core.divisions): their GB/T 2260 codes are kept beside the Chinese names the order
    copies. An address written before the lists whose names matched no division has no codes:
    it still shows as written, and is to be chosen again before it is used."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="addresses", verbose_name=_("customer"))
    is_default = models.BooleanField(_("default address"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    province_code = models.CharField(_("province code"), max_length=6, blank=True, default="")
    city_code = models.CharField(_("city code"), max_length=6, blank=True, default="")
    # Empty for a city without districts (东莞市, 仙桃市).
    district_code = models.CharField(_("district code"), max_length=6, blank=True, default="")

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        ordering = ["-is_default", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(is_default=True), name="address_one_default_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.recipient} {self.phone} {self.one_line}"

    @property
    def needs_place(self) -> bool:
        """True for an address whose province, city and district must be chosen again."""
        return not (self.province_code and self.city_code)


class Sequence(models.Model):
    """A gap-free document numbering (refund notes, invoices): `sequence_next` takes the next
    number under the row's lock, so two concurrent documents never share one and a rolled-back
    transaction gives its number back."""

    name = models.CharField(max_length=40, unique=True)
    last = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("document sequence")
        verbose_name_plural = _("document sequences")

    def __str__(self) -> str:
        return f"{self.name}: {self.last}"


def sequence_next(name: str) -> int:
    """The next number of a gap-free sequence, under its row lock (held until the caller's
    transaction ends: a rollback gives the number back, and two callers never share one)."""
    Sequence.objects.get_or_create(name=name)
    seq = Sequence.objects.select_for_update().get(name=name)
    seq.last = models.F("last") + 1
    seq.save(update_fields=["last"])
    seq.refresh_from_db(fields=["last"])
    return seq.last


class AdminLogEntry(models.Model):
    """One staff write made in the admin (管理员日志): who, when, from which address, on which
    object, what was done and what changed, field by field. Written by shop.adminlog only, read
    only by superusers; nothing edits or deletes a row."""

    class Kind(models.TextChoices):
        ADD = "add", _("added")
        CHANGE = "change", _("changed")
        DELETE = "delete", _("deleted")
        ACTION = "action", _("list action")  # an action run on selected rows of a change list
        PAGE = "page", _("staff page")  # a custom admin page: ship, approve, adjust a wallet…
        IMPORT = "import", _("imported")

    at = models.DateTimeField(_("when"), default=timezone.now)
    # Kept when the staff account is removed later: the email is copied.
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("staff member")
    )
    actor_email = models.CharField(_("staff email"), max_length=254)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    action = models.CharField(_("action"), max_length=60)
    content_type = models.ForeignKey(
        "contenttypes.ContentType", on_delete=models.PROTECT, related_name="+", verbose_name=_("object type")
    )
    object_pk = models.CharField(_("object id"), max_length=64)
    object_repr = models.CharField(_("object"), max_length=200)
    # {"field": [before, after]}: before is null for an addition, after null for a deletion.
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    note = models.TextField(_("messages shown"), blank=True)
    path = models.CharField(_("page"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("admin log entry")
        verbose_name_plural = _("admin log")
        ordering = ["-at", "-pk"]
        default_permissions = ("view",)  # nobody is given add, change or delete
        indexes = [
            models.Index(fields=["-at"], name="adminlog_at"),
            models.Index(fields=["actor", "-at"], name="adminlog_actor_at"),
            models.Index(fields=["content_type", "object_pk"], name="adminlog_object"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_email} {self.action} {self.object_repr}"

"""Payments, gateway notifications and wallets in the admin. Wallet balances change only
through an adjustment with a reason, recorded in the ledger."""

import hashlib
import secrets

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from orders.admin import LineInline
from orders.models import Order
from payments import models, services
from payments.exceptions import PaymentError, PaymentErrorCode
from shop.adminlog import admin_log_record, snapshot
from shop.core.admin import ReadOnlyInline
from shop.core.admin_site import contribute
from shop.models import User


class PaymentInline(ReadOnlyInline):
    model = models.Payment
    fields = ("reference", "provider_label", "amount", "state", "transaction_id", "created_at", "captured_at")

    @admin.display(description=_("provider"))
    def provider_label(self, obj) -> str:
        # The stored code ("wallet") as the payment method's name in the page's language.
        methods = dict(Order.PaymentMethod.choices)
        return str(methods.get(obj.provider, obj.provider))


# On orders' order page, after its lines.
contribute(Order, inlines=[PaymentInline], after=LineInline)


class RefundInline(ReadOnlyInline):
    model = models.Refund
    fields = ("request_no", "amount", "reason", "state", "attempts", "last_error", "created_at", "completed_at")


class ToRefundFilter(admin.SimpleListFilter):
    """Finance's worklist: money the gateway took that must go back, and refunds that failed."""

    title = _("to refund")
    parameter_name = "to_refund"

    def lookups(self, request, model_admin):
        return [("yes", _("To refund (not yet refunded)")), ("failed", _("Refund failed"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(state=models.Payment.State.TO_REFUND)
        if self.value() == "failed":
            return queryset.filter(refunds__state=models.Refund.State.FAILED).distinct()
        return queryset


@admin.register(models.Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("reference", "order", "purpose", "provider", "amount", "state", "created_at", "captured_at")
    list_filter = (ToRefundFilter, "provider", "state", "purpose")
    search_fields = ("reference", "transaction_id", "order__number")
    list_select_related = ("order",)
    readonly_fields = [f.name for f in models.Payment._meta.fields]
    inlines = [RefundInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the record of money taken: kept whatever happens to it later


@admin.register(models.Refund)
class RefundAdmin(admin.ModelAdmin):
    """Refunds are read only: they are decided by the payment rules (and later after-sales) and
    moved by the gateway. Finance may only send a failed one again, under the same number."""

    list_display = ("request_no", "payment", "amount", "reason", "state", "attempts", "created_at", "completed_at")
    list_filter = ("state", "reason", "payment__provider")
    search_fields = ("request_no", "payment__reference", "payment__order__number", "gateway_reference")
    list_select_related = ("payment",)
    readonly_fields = [f.name for f in models.Refund._meta.fields]
    actions = ["retry", "to_wallet"]

    def has_add_permission(self, request) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        # Every field is read only, so "Save" has nothing to store; saving the row anyway could
        # write back a state the payout task changed meanwhile (SUCCEEDED back to FAILED).
        pass

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(permissions=["change"], description=_("Send the failed refunds again"))
    def retry(self, request, queryset):
        sent = 0
        for refund in queryset:
            try:
                services.refund_retry(refund_id=refund.pk, actor=request.user)
            except PaymentError as exc:
                self.message_user(request, f"{refund.request_no}: {exc.message}", messages.WARNING)
            else:
                sent += 1
        if sent:
            self.message_user(
                request,
                ngettext("%(n)d refund sent again.", "%(n)d refunds sent again.", sent) % {"n": sent},
                messages.SUCCESS,
            )

    @admin.action(permissions=["change"], description=_("Pay the failed refunds to the customers' wallets instead"))
    def to_wallet(self, request, queryset):
        # When the gateway will not take a refund (the buyer's account closed, the trade too
        # old): the same amount, on the same record, goes into the customer's wallet.
        paid = 0
        for refund in queryset:
            try:
                services.refund_to_wallet_instead(refund_id=refund.pk, actor=request.user)
            except PaymentError as exc:
                self.message_user(request, f"{refund.request_no}: {exc.message}", messages.WARNING)
            else:
                paid += 1
        if paid:
            self.message_user(
                request,
                ngettext("%(n)d refund paid to the wallet.", "%(n)d refunds paid to the wallet.", paid) % {"n": paid},
                messages.SUCCESS,
            )


@admin.register(models.GatewayNotification)
class GatewayNotificationAdmin(admin.ModelAdmin):
    list_display = ("received_at", "provider", "accepted", "outcome")
    list_filter = ("provider", "accepted")
    readonly_fields = ("provider", "payload", "accepted", "outcome", "received_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the audit trail of what gateways told us


class EntryInline(ReadOnlyInline):
    model = models.WalletEntry
    fields = ("created_at", "amount", "balance_after", "reason", "reference", "note", "actor")


class AdjustForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount (negative to debit)"), max_digits=12, decimal_places=2)
    note = forms.CharField(label=_("Reason"), max_length=200)
    # Where to go back to: the customer's page when the adjustment started there.
    next = forms.CharField(required=False, widget=forms.HiddenInput)
    # One-time key of this form, new on every GET: posting the same form again (a double
    # click, back and resend) names the same key, and services.wallet_adjust moves the wallet once.
    key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def adjustment_key(self, *, wallet, actor) -> str:
        """The form's key; for a post without one (an old page, a script), a key made of what it
        asks, so that the same request sent twice still adjusts once."""
        if self.cleaned_data["key"]:
            return self.cleaned_data["key"]
        asked = f"{wallet.pk}:{actor.pk}:{self.cleaned_data['amount']}:{self.cleaned_data['note'].strip()}"
        return "sha256:" + hashlib.sha256(asked.encode()).hexdigest()[:56]


@admin.register(models.Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ("user", "balance")
    search_fields = ("user__email", "user__phone")
    list_select_related = ("user",)
    readonly_fields = ("user", "balance")
    inlines = [EntryInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # A balance and its ledger are kept; adjust with a reason instead. An empty wallet goes
        # only with its customer's account (CustomerWalletDeletion below).
        return False

    def save_model(self, request, obj, form, change) -> None:
        # Finance may change wallets (to adjust them), but every field here is read only: saving
        # the row could write back a balance an adjustment or a payment changed meanwhile.
        pass

    def get_urls(self):
        return [
            path("<int:pk>/adjust/", self.admin_site.admin_view(self.adjust_view), name="payments_wallet_adjust"),
            *super().get_urls(),
        ]

    def adjust_view(self, request, pk: int):
        wallet = get_object_or_404(models.Wallet.objects.select_related("user"), pk=pk)
        if not self.has_change_permission(request, wallet):
            raise PermissionDenied
        form = AdjustForm(
            request.POST or None, initial={"next": request.GET.get("next", ""), "key": secrets.token_urlsafe(24)}
        )
        if request.method == "POST" and form.is_valid():
            before = snapshot(wallet)
            try:
                entry = services.wallet_adjust(
                    user=wallet.user,
                    amount=form.cleaned_data["amount"],
                    note=form.cleaned_data["note"],
                    actor=request.user,
                    key=form.adjustment_key(wallet=wallet, actor=request.user),
                )
            except PaymentError as exc:
                if exc.code != PaymentErrorCode.ADJUSTMENT_REPEATED:
                    form.add_error(None, exc.message)
                else:  # the first post did it: say so and go where it went
                    self.message_user(request, exc.message, messages.WARNING)
                    return redirect(self._adjust_back(request, form, pk))
            else:
                said = _("Wallet adjusted.")
                self.message_user(request, said, messages.SUCCESS)
                wallet.refresh_from_db()
                # Recorded here rather than by the admin log's generic page record: the log
                # keeps the reason and the amount with the balance's before and after.
                admin_log_record(
                    request=request,
                    action="adjust",
                    obj=wallet,
                    before=before,
                    after=wallet,
                    note=f"{said} {entry.amount:+} · {entry.note}",
                )
                return redirect(self._adjust_back(request, form, pk))
        return render(
            request,
            "admin/payments/adjust.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "wallet": wallet,
                "entries": wallet.entries.select_related("actor")[:10],
                "title": _("Adjust wallet"),
            },
        )

    @staticmethod
    def _adjust_back(request, form: AdjustForm, pk: int) -> str:
        back = form.cleaned_data["next"]
        safe = url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        if not back or not safe:
            back = reverse("admin:payments_wallet_change", args=[pk])
        return back


class WalletInline(admin.StackedInline):
    model = models.Wallet
    extra = 0
    can_delete = False
    fields = ("balance", "recent_entries", "adjust_link")
    readonly_fields = fields

    @admin.display(description=_("Latest entries"))
    def recent_entries(self, obj):
        from django.utils.html import format_html, format_html_join

        entries = obj.entries.order_by("-created_at", "-pk")[:10] if obj.pk else []
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    e.created_at.strftime("%Y-%m-%d %H:%M"),
                    e.amount,
                    e.balance_after,
                    e.get_reason_display(),
                    e.reference or e.note,
                )
                for e in entries
            ),
        )
        link = reverse("admin:payments_wallet_change", args=[obj.pk]) if obj.pk else ""
        return format_html('<table class="wallet-entries">{}</table><a href="{}">{}</a>', rows, link, _("All entries"))

    @admin.display(description=_("Adjust"))
    def adjust_link(self, obj):
        from django.utils.html import format_html

        if not obj.pk:
            return "—"
        back = urlencode({"next": reverse("admin:shop_user_change", args=[obj.user_id])})
        url = reverse("admin:payments_wallet_adjust", args=[obj.pk]) + "?" + back
        return format_html('<a href="{}">{}</a>', url, _("Adjust"))

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Shown, never saved with the customer's form (the balance moves only through the
        # ledger): a view-only inline posts nothing, and Django does not validate it, so saving
        # a customer who has a wallet needs no wallet fields in the form.
        return False


def customer_wallet_adjust_link(request, customer):
    """Finance (and the superuser) adjust a customer's wallet from their page, and come back to it."""
    wallet = models.Wallet.objects.filter(user=customer).first()
    if wallet is None or not request.user.has_perm("payments.change_wallet"):
        return None
    back = urlencode({"next": reverse("admin:shop_user_change", args=[customer.pk])})
    return _("Adjust wallet"), reverse("admin:payments_wallet_adjust", args=[wallet.pk]) + "?" + back


def customer_wallet_link(request, customer):
    wallet = models.Wallet.objects.filter(user=customer).first()
    if wallet is None or not request.user.has_perm("payments.view_wallet"):
        return None
    return _("Wallet"), reverse("admin:payments_wallet_change", args=[wallet.pk])


class CustomerWalletDeletion:
    """Contributed to the customer admin: deleting an account takes its wallet along when the
    wallet is empty (the wallet admin itself deletes none, so Django would otherwise ask for a
    permission nobody has). A wallet with entries still stops the deletion: its entries are
    protected, and the confirmation page lists them."""

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(models.Wallet._meta.verbose_name)
        return deleted, counts, perms_needed, protected


# On shop's customer admin (用户信息管理): the wallet, and what finance may do there.
contribute(
    User,
    inlines=[WalletInline],
    mixins=[CustomerWalletDeletion],
    links=[customer_wallet_link, customer_wallet_adjust_link],
)

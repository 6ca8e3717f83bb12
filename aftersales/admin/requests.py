"""Staff work on after-sales in the admin: the request queue (approve, reject, escalate, message
the customer, receive a return), refund notes (finance: a failed payout sent again or paid to the
wallet instead) and insurance claims (file one for an insured parcel, record the carrier's
answer). The order's page shows its requests and claims.

Nothing here edits a fact: every page is read only, and every change is a form that calls one
service (aftersales.services.requests and .claims, payments.services), which checks the rules
and refuses with an AfterSaleError (or PaymentError) whose message is shown, changing nothing.
Who may press which button is the permission the service's work needs: deciding
(aftersales.decide_aftersale), deciding escalated requests (aftersales.supervise_aftersale),
receiving stock (aftersales.receive_return), money (payments.change_refund)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery, Sum
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from aftersales import models
from aftersales.exceptions import AfterSaleError
from aftersales.selectors import requests as request_selectors
from aftersales.services import claims as claim_services
from aftersales.services import requests as request_services
from fulfillment.models import Shipment, Warehouse
from orders.models import Order
from payments import services as payment_services
from payments.exceptions import PaymentError
from shop.core.admin import ReadOnlyInline
from shop.core.admin_site import contribute

DECIDE = "aftersales.decide_aftersale"
SUPERVISE = "aftersales.supervise_aftersale"
RECEIVE = "aftersales.receive_return"
PAYOUT = "payments.change_refund"
FILE_CLAIM = "aftersales.add_insuranceclaim"
SETTLE_CLAIM = "aftersales.change_insuranceclaim"

CSS = {"all": ("shop/admin-aftersales.css",)}


def _link(viewname: str, pk, text) -> str:
    return format_html('<a href="{}">{}</a>', reverse(viewname, args=[pk]), text)


def _posted(request):
    """The submitted data of a POST (even an empty one: an approval may have no fields), else
    None for an unbound form."""
    return request.POST if request.method == "POST" else None


def _page(model_admin, request, template: str, title: str, **context):
    """A form page inside the admin's frame (menu, breadcrumbs, title)."""
    return render(
        request,
        template,
        {**model_admin.admin_site.each_context(request), "title": title, "opts": model_admin.model._meta, **context},
    )


# -- the request queue --------------------------------------------------------------------------


class OverdueFilter(admin.SimpleListFilter):
    title = _("deadline")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue")), ("no", _("Not overdue"))]

    def queryset(self, request, queryset):
        overdue = {"status__in": models.AfterSale.OPEN, "due_at__lte": timezone.now()}
        if self.value() == "yes":
            return queryset.filter(**overdue)
        if self.value() == "no":
            return queryset.exclude(**overdue)
        return queryset


class NewMessageFilter(admin.SimpleListFilter):
    title = _("messages")
    parameter_name = "new_message"

    def lookups(self, request, model_admin):
        return [("yes", _("Customer waiting for an answer"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(_last_from_staff=False)
        return queryset


class ApproveForm(forms.Form):
    warehouse = forms.ModelChoiceField(
        label=_("Return to warehouse"),
        queryset=Warehouse.objects.filter(is_active=True).order_by("code"),
        required=False,
        empty_label=_("The warehouse that shipped the goods"),
    )
    note = forms.CharField(label=_("Note (staff only)"), max_length=300, required=False)

    def __init__(self, *args, request: models.AfterSale, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not request.needs_return:
            del self.fields["warehouse"]  # a refund has nothing to send back
        else:
            shipped_from = (
                request.order.shipments.filter(kind=Shipment.Kind.OUTBOUND)
                .exclude(status=Shipment.Status.CANCELLED)
                .order_by("pk")
                .values_list("warehouse_id", flat=True)
                .first()
            )
            self.fields["warehouse"].initial = shipped_from


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason (the customer sees it)"), max_length=300, widget=forms.Textarea(attrs={"rows": 3})
    )


class EscalateForm(forms.Form):
    note = forms.CharField(label=_("Note for the supervisor"), max_length=300, required=False)


class MessageForm(forms.Form):
    body = forms.CharField(
        label=_("Message to the customer (mailed)"), max_length=1000, widget=forms.Textarea(attrs={"rows": 4})
    )


class ReceiveForm(forms.Form):
    """Per request line: units back in stock and units written off as damaged; together they are
    the line's quantity (the service checks it)."""

    note = forms.CharField(label=_("Inspection note"), max_length=300, required=False)

    def __init__(self, *args, lines, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines = list(lines)
        for line in self.lines:
            self.fields[f"restock-{line.pk}"] = forms.IntegerField(
                label=_("Back in stock"), min_value=0, max_value=line.quantity, initial=line.quantity
            )
            self.fields[f"writeoff-{line.pk}"] = forms.IntegerField(
                label=_("Written off (damaged)"), min_value=0, max_value=line.quantity, initial=0
            )

    def rows(self):
        return [(line, self[f"restock-{line.pk}"], self[f"writeoff-{line.pk}"]) for line in self.lines]

    def counts(self) -> tuple[dict[int, int], dict[int, int]]:
        restock = {line.pk: self.cleaned_data[f"restock-{line.pk}"] for line in self.lines}
        write_off = {line.pk: self.cleaned_data[f"writeoff-{line.pk}"] for line in self.lines}
        return restock, write_off


@admin.register(models.AfterSale)
class AfterSaleAdmin(admin.ModelAdmin):
    """The queue: open requests first, the overdue ones on top, then by deadline."""

    list_display = (
        "number", "order_link", "customer", "kind", "reason", "status", "deadline", "units", "refund_amount",
        "new_message",
    )  # fmt: skip
    list_filter = ("status", "kind", OverdueFilter, NewMessageFilter)
    search_fields = ("number", "order__number", "customer__email")
    show_full_result_count = False
    readonly_fields = (
        "number", "order_link", "customer", "kind", "reason", "description", "refund_to", "status", "deadline",
        "reject_reason", "appeal_text", "appealed_at", "escalated", "close_reason", "return_warehouse",
        "return_address", "return_shipment", "replacement_shipment", "insurance_claim", "refund_note_link",
        "created_at", "decided_at", "decided_by", "received_at", "closed_at",
    )  # fmt: skip
    _goods_and_money = (
        "return_warehouse", "return_address", "return_shipment", "received_at", "replacement_shipment", "refund_to",
        "refund_note_link", "insurance_claim", "created_at", "closed_at",
    )  # fmt: skip
    fieldsets = (
        (None, {"fields": ("number", "order_link", "customer", "kind", "reason", "description", "status", "deadline")}),
        (_("Decision"), {"fields": ("decided_at", "decided_by", "reject_reason", "escalated", "close_reason")}),
        (_("Appeal"), {"fields": ("appeal_text", "appealed_at")}),
        (_("Goods and money"), {"fields": _goods_and_money}),
    )

    class Media:
        css = CSS

    def get_queryset(self, request):
        last_from_staff = models.AfterSaleMessage.objects.filter(request=OuterRef("pk")).order_by("-created_at", "-pk")
        units = (
            models.AfterSaleLine.objects.filter(request=OuterRef("pk"))
            .order_by()
            .values("request")
            .annotate(n=Sum("quantity"))
            .values("n")
        )
        return (
            request_selectors.staff_queue()
            .select_related("order", "customer", "refund_note")
            .annotate(
                _units=Subquery(units),
                _last_from_staff=Subquery(last_from_staff.values("from_staff")[:1]),
            )
        )

    def get_ordering(self, request):
        # The queue's own order (open first, overdue first, then by deadline): without this the
        # change list would sort by the model's default (newest first).
        return list(request_selectors.staff_queue().query.order_by)

    def has_add_permission(self, request) -> bool:
        return False  # customers open requests

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the facts are never edited: every change is a decision through a service

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    # -- columns ----------------------------------------------------------------------------------

    @admin.display(description=_("order"), ordering="order__number")
    def order_link(self, obj) -> str:
        return _link("admin:orders_order_change", obj.order_id, obj.order.number)

    @admin.display(description=_("deadline"), ordering="due_at")
    def deadline(self, obj) -> str:
        if obj.due_at is None:
            return "—"
        when = timezone.localtime(obj.due_at).strftime("%Y-%m-%d %H:%M")
        if obj.is_overdue:
            return format_html('<span class="aftersale-overdue">{} ({})</span>', when, _("overdue"))
        return when

    @admin.display(description=_("units"))
    def units(self, obj) -> int:
        return obj._units if hasattr(obj, "_units") else sum(line.quantity for line in obj.lines.all())

    @admin.display(description=_("refund"))
    def refund_amount(self, obj):
        note = self._refund_note(obj)
        return note.amount if note else "—"

    @admin.display(description=_("new message"), boolean=True)
    def new_message(self, obj) -> bool:
        return getattr(obj, "_last_from_staff", None) is False  # the customer spoke last

    @admin.display(description=_("refund note"))
    def refund_note_link(self, obj) -> str:
        note = self._refund_note(obj)
        if note is None:
            return "—"
        return _link("admin:aftersales_refundnote_change", note.pk, f"{note.number} · {note.amount}")

    @staticmethod
    def _refund_note(obj):
        try:
            return obj.refund_note
        except models.RefundNote.DoesNotExist:
            return None

    # -- the change page: facts and the staff's buttons -------------------------------------------

    def may(self, request, obj, action: str) -> bool:
        """Which buttons this user sees for this request (the services decide in the end)."""
        user, status = request.user, obj.status
        S = models.AfterSale.Status
        if action in ("approve", "reject"):
            if not user.has_perm(DECIDE):
                return False
            return status == S.PENDING or (status == S.ESCALATED and user.has_perm(SUPERVISE))
        if action == "escalate":
            return user.has_perm(DECIDE) and status == S.PENDING
        if action == "message":
            return user.has_perm(DECIDE)
        if action == "receive":
            return user.has_perm(RECEIVE) and status == S.RETURN_SHIPPED
        raise ValueError(action)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if obj is not None:
            extra.update(self._facts(request, obj))
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def _facts(self, request, obj) -> dict:
        lines = list(obj.lines.select_related("order_line"))
        return {
            "aftersale": obj,
            "lines": lines,
            "photos": list(obj.photos.all()),
            "conversation": list(obj.messages.select_related("author")),
            "events": list(obj.events.select_related("actor")),
            "approve_form": ApproveForm(request=obj, prefix="approve") if self.may(request, obj, "approve") else None,
            "reject_form": RejectForm(prefix="reject") if self.may(request, obj, "reject") else None,
            "escalate_form": EscalateForm(prefix="escalate") if self.may(request, obj, "escalate") else None,
            "message_form": MessageForm(prefix="message") if self.may(request, obj, "message") else None,
            "receive_url": (
                reverse("admin:aftersales_aftersale_receive", args=[obj.pk])
                if self.may(request, obj, "receive")
                else ""
            ),
            "needs_supervisor": obj.status == models.AfterSale.Status.ESCALATED
            and request.user.has_perm(DECIDE)
            and not request.user.has_perm(SUPERVISE),
        }

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/approve/", view(self.approve_view), name="aftersales_aftersale_approve"),
            path("<int:pk>/reject/", view(self.reject_view), name="aftersales_aftersale_reject"),
            path("<int:pk>/escalate/", view(self.escalate_view), name="aftersales_aftersale_escalate"),
            path("<int:pk>/message/", view(self.message_view), name="aftersales_aftersale_message"),
            path("<int:pk>/receive/", view(self.receive_view), name="aftersales_aftersale_receive"),
            *super().get_urls(),
        ]

    def _request_for(self, request, pk: int, permission: str) -> models.AfterSale:
        if not request.user.has_perm(permission):
            raise PermissionDenied
        return get_object_or_404(models.AfterSale.objects.select_related("order", "customer"), pk=pk)

    def _act(self, request, obj, form, call, done: str, title: str):
        """POST: a valid form calls the service; its refusal is shown and nothing changed. GET
        (or an invalid form): the form on its own page."""
        change_url = reverse("admin:aftersales_aftersale_change", args=[obj.pk])
        if request.method == "POST" and form.is_valid():
            try:
                call(form.cleaned_data)
            except AfterSaleError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, done % {"n": obj.number}, messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        return _page(
            self, request, "admin/aftersales/action.html", title % {"n": obj.number}, aftersale=obj, form=form,
            change_url=change_url,
        )  # fmt: skip

    def approve_view(self, request, pk: int):
        obj = self._request_for(request, pk, DECIDE)
        form = ApproveForm(_posted(request), request=obj, prefix="approve")

        def call(data):
            warehouse = data.get("warehouse")
            request_services.aftersale_approve(
                request_id=obj.pk, actor=request.user, warehouse_id=warehouse.pk if warehouse else None,
                note=data.get("note", ""),
            )  # fmt: skip

        return self._act(request, obj, form, call, _("Request %(n)s approved."), _("Approve request %(n)s"))

    def reject_view(self, request, pk: int):
        obj = self._request_for(request, pk, DECIDE)
        form = RejectForm(_posted(request), prefix="reject")

        def call(data):
            request_services.aftersale_reject(request_id=obj.pk, actor=request.user, reason=data["reason"])

        return self._act(request, obj, form, call, _("Request %(n)s rejected."), _("Reject request %(n)s"))

    def escalate_view(self, request, pk: int):
        obj = self._request_for(request, pk, DECIDE)
        form = EscalateForm(_posted(request), prefix="escalate")

        def call(data):
            request_services.aftersale_escalate(request_id=obj.pk, actor=request.user, note=data.get("note", ""))

        return self._act(
            request, obj, form, call, _("Request %(n)s escalated to a supervisor."), _("Escalate request %(n)s")
        )

    def message_view(self, request, pk: int):
        obj = self._request_for(request, pk, DECIDE)
        form = MessageForm(_posted(request), prefix="message")

        def call(data):
            request_services.aftersale_message_post(
                request_id=obj.pk, author=request.user, body=data["body"], from_staff=True
            )

        return self._act(request, obj, form, call, _("Message sent on %(n)s."), _("Message the customer of %(n)s"))

    def receive_view(self, request, pk: int):
        obj = self._request_for(request, pk, RECEIVE)
        lines = obj.lines.select_related("order_line").order_by("pk")
        form = ReceiveForm(_posted(request), lines=lines)

        def call(data):
            restock, write_off = form.counts()
            request_services.aftersale_receive(
                request_id=obj.pk, actor=request.user, restock=restock, write_off=write_off,
                note=data.get("note", ""),
            )  # fmt: skip

        if request.method == "POST" or obj.status == models.AfterSale.Status.RETURN_SHIPPED:
            return self._act(request, obj, form, call, _("Return of %(n)s received."), _("Receive the return of %(n)s"))
        # Nothing on its way back (yet): say so on the request's page.
        self.message_user(
            request, _("Request %(n)s has no return on its way to receive.") % {"n": obj.number}, messages.WARNING
        )
        return HttpResponseRedirect(reverse("admin:aftersales_aftersale_change", args=[obj.pk]))


# -- refund notes (finance) ----------------------------------------------------------------------


class PayoutFilter(admin.SimpleListFilter):
    title = _("payout")
    parameter_name = "payout"

    def lookups(self, request, model_admin):
        return [("failed", _("Failed: finance to act")), ("pending", _("Waiting")), ("paid", _("Paid"))]

    def queryset(self, request, queryset):
        states = {"failed": "failed", "pending": "pending", "paid": "succeeded"}
        if self.value() in states:
            return queryset.filter(payment_refund__state=states[self.value()])
        return queryset


def payout_actions(model_admin, request, refund_ids, call, done) -> None:
    """Run a payments service on each payout; report each refusal by its message."""
    sent = 0
    for label, refund_id in refund_ids:
        if refund_id is None:
            model_admin.message_user(request, _("%(n)s has no payout to act on.") % {"n": label}, messages.WARNING)
            continue
        try:
            call(refund_id=refund_id, actor=request.user)
        except PaymentError as exc:
            model_admin.message_user(request, f"{label}: {exc.message}", messages.WARNING)
        else:
            sent += 1
    if sent:
        model_admin.message_user(request, done(sent) % {"n": sent}, messages.SUCCESS)


def retried(n: int) -> str:
    return ngettext("%(n)d refund sent again.", "%(n)d refunds sent again.", n)


def paid_to_wallet(n: int) -> str:
    return ngettext("%(n)d refund paid to the wallet.", "%(n)d refunds paid to the wallet.", n)


@admin.register(models.RefundNote)
class RefundNoteAdmin(admin.ModelAdmin):
    """Refund notes are documents: read only. Finance acts on a failed payout from here."""

    list_display = (
        "number", "order_link", "request_link", "amount", "destination", "state", "payout_state", "payout_error",
        "created_at", "paid_at",
    )  # fmt: skip
    list_filter = ("state", PayoutFilter, "destination")
    search_fields = ("number", "order__number", "request__number", "order__customer__email")
    list_select_related = ("order", "request", "payment_refund")
    show_full_result_count = False
    actions = ("retry_payout", "pay_to_wallet")
    readonly_fields = (
        "number", "order_link", "request_link", "lines_table", "goods_amount", "shipping_amount", "insurance_amount",
        "amount", "destination", "state", "payout_link", "payout_state", "payout_error", "approved_by", "created_at",
        "paid_at",
    )  # fmt: skip
    fields = readonly_fields

    class Media:
        css = CSS

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a document: what was decided stays as it was

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_payout_permission(self, request) -> bool:
        return request.user.has_perm(PAYOUT)

    @admin.display(description=_("order"), ordering="order__number")
    def order_link(self, obj) -> str:
        return _link("admin:orders_order_change", obj.order_id, obj.order.number)

    @admin.display(description=_("request"))
    def request_link(self, obj) -> str:
        if obj.request_id is None:
            return "—"
        return _link("admin:aftersales_aftersale_change", obj.request_id, obj.request.number)

    @admin.display(description=_("payout state"))
    def payout_state(self, obj) -> str:
        return obj.payment_refund.get_state_display() if obj.payment_refund_id else "—"

    @admin.display(description=_("last error"))
    def payout_error(self, obj) -> str:
        return (obj.payment_refund.last_error if obj.payment_refund_id else "") or "—"

    @admin.display(description=_("payout"))
    def payout_link(self, obj) -> str:
        if not obj.payment_refund_id:
            return "—"
        return _link("admin:payments_refund_change", obj.payment_refund_id, obj.payment_refund.request_no)

    @admin.display(description=_("lines"))
    def lines_table(self, obj) -> str:
        from django.utils.html import format_html_join

        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (line.order_line.product_name, line.order_line.variant_label, line.quantity, line.amount)
                for line in obj.lines.select_related("order_line")
            ),
        )
        return format_html(
            '<table class="aftersale-table"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            _("item"),
            _("options"),
            _("quantity"),
            _("amount"),
            rows,
        )

    def _payouts(self, queryset):
        return [(note.number, note.payment_refund_id) for note in queryset.order_by("pk")]

    @admin.action(description=_("Send the failed payouts again"), permissions=["payout"])
    def retry_payout(self, request, queryset):
        payout_actions(self, request, self._payouts(queryset), payment_services.refund_retry, retried)

    @admin.action(description=_("Pay the failed payouts to the customers' wallets instead"), permissions=["payout"])
    def pay_to_wallet(self, request, queryset):
        payout_actions(
            self, request, self._payouts(queryset), payment_services.refund_to_wallet_instead, paid_to_wallet
        )


# -- insurance claims ----------------------------------------------------------------------------

CLAIMABLE_CARRIERS = (Shipment.Carrier.EXPRESS, Shipment.Carrier.OWN_FLEET)


def claimable_parcels():
    """Parcels a claim may be filed for: insured orders' parcels with a carrier, on their way, in
    trouble or delivered damaged, without a claim yet (the service checks again)."""
    return (
        Shipment.objects.filter(
            order__insured=True,
            kind__in=(Shipment.Kind.OUTBOUND, Shipment.Kind.REPLACEMENT),
            carrier__in=CLAIMABLE_CARRIERS,
            status__in=claim_services.CLAIMABLE,
            insurance_claim__isnull=True,
        )
        .select_related("order")
        .order_by("-shipped_at", "-pk")
    )


class ParcelChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.number} · {obj.order.number} · {obj.get_carrier_display()} {obj.tracking_number}"


class FileClaimForm(forms.Form):
    shipment = ParcelChoiceField(label=_("Parcel"), queryset=Shipment.objects.none())
    loss = forms.ChoiceField(label=_("What happened"), choices=[("lost", _("Lost")), ("damaged", _("Damaged"))])
    remedy = forms.ChoiceField(label=_("For the customer"), choices=models.InsuranceClaim.Remedy.choices)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)

    def __init__(self, *args, may_refund: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["shipment"].queryset = claimable_parcels()
        if not may_refund:
            # Refunding the customer is a decision on money: whoever may decide requests.
            self.fields["remedy"].choices = [
                c for c in models.InsuranceClaim.Remedy.choices if c[0] != models.InsuranceClaim.Remedy.REFUND
            ]


class SettleClaimForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("The carrier"), choices=[("paid", _("Paid the claim")), ("refused", _("Refused the claim"))]
    )
    amount = forms.DecimalField(label=_("Amount paid"), max_digits=12, decimal_places=2, min_value=0, required=False)
    carrier_reference = forms.CharField(label=_("Carrier's claim reference"), max_length=60, required=False)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)

    def clean(self):
        data = super().clean()
        if data.get("outcome") == "paid" and data.get("amount") is None:
            self.add_error("amount", _("Enter the amount the carrier paid."))
        return data


class ClaimRequestInline(ReadOnlyInline):
    model = models.AfterSale
    fk_name = "insurance_claim"
    fields = ("link", "kind", "status")
    verbose_name = _("request for the customer")
    verbose_name_plural = _("requests for the customer")

    @admin.display(description=_("request"))
    def link(self, obj) -> str:
        return _link("admin:aftersales_aftersale_change", obj.pk, obj.number)


@admin.register(models.InsuranceClaim)
class InsuranceClaimAdmin(admin.ModelAdmin):
    list_display = (
        "number", "order_link", "shipment_link", "loss", "declared_value", "remedy", "status", "paid_amount",
        "carrier_reference", "filed_at",
    )  # fmt: skip
    list_filter = ("status", "loss", "remedy")
    search_fields = ("number", "order__number", "shipment__number", "shipment__tracking_number", "carrier_reference")
    list_select_related = ("order", "shipment")
    show_full_result_count = False
    inlines = [ClaimRequestInline]
    readonly_fields = (
        "number", "order_link", "shipment_link", "loss", "declared_value", "remedy", "status", "settle_link",
        "carrier_reference", "paid_amount", "note", "filed_by", "filed_at", "settled_at",
    )  # fmt: skip
    fields = readonly_fields

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # recorded through the settle form only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("order"), ordering="order__number")
    def order_link(self, obj) -> str:
        return _link("admin:orders_order_change", obj.order_id, obj.order.number)

    @admin.display(description=_("parcel"))
    def shipment_link(self, obj) -> str:
        return _link("admin:fulfillment_shipment_change", obj.shipment_id, obj.shipment.number)

    @admin.display(description=_("carrier's answer"))
    def settle_link(self, obj) -> str:
        if obj.status != models.InsuranceClaim.Status.FILED:
            return obj.get_status_display()
        url = reverse("admin:aftersales_insuranceclaim_settle", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Record the carrier's answer"))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/settle/", view(self.settle_view), name="aftersales_insuranceclaim_settle"),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        """Filing a claim is a service call, not a saved form: the service takes the declared
        value from the parcel and opens the customer's refund or replacement."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = FileClaimForm(_posted(request), may_refund=request.user.has_perm(DECIDE))
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                claim = claim_services.insurance_claim_file(
                    shipment_id=data["shipment"].pk, actor=request.user, loss=data["loss"], remedy=data["remedy"],
                    note=data["note"],
                )  # fmt: skip
            except AfterSaleError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, _("Claim %(n)s filed.") % {"n": claim.number}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:aftersales_insuranceclaim_change", args=[claim.pk]))
        return _page(self, request, "admin/aftersales/claim_file.html", _("File an insurance claim"), form=form)

    def settle_view(self, request, pk: int):
        if not request.user.has_perm(SETTLE_CLAIM):
            raise PermissionDenied
        claim = get_object_or_404(models.InsuranceClaim.objects.select_related("order", "shipment"), pk=pk)
        change_url = reverse("admin:aftersales_insuranceclaim_change", args=[claim.pk])
        form = SettleClaimForm(_posted(request))
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            paid = data["outcome"] == "paid"
            try:
                claim_services.insurance_claim_settle(
                    claim_id=claim.pk, actor=request.user, paid=paid, amount=data["amount"] if paid else None,
                    carrier_reference=data["carrier_reference"], note=data["note"],
                )  # fmt: skip
            except AfterSaleError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, _("Claim %(n)s settled.") % {"n": claim.number}, messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        return _page(
            self, request, "admin/aftersales/claim_settle.html", _("The carrier's answer to claim %(n)s")
            % {"n": claim.number}, claim=claim, form=form, change_url=change_url,
        )  # fmt: skip


# -- the order's page: its requests and claims --------------------------------------------------


class OrderRequestInline(ReadOnlyInline):
    model = models.AfterSale
    fk_name = "order"
    fields = ("link", "kind", "status", "due_at", "created_at")
    verbose_name = _("after-sales request")
    verbose_name_plural = _("after-sales requests")

    @admin.display(description=_("request"))
    def link(self, obj) -> str:
        return _link("admin:aftersales_aftersale_change", obj.pk, obj.number)


class OrderClaimInline(ReadOnlyInline):
    model = models.InsuranceClaim
    fields = ("link", "shipment", "loss", "declared_value", "status", "remedy", "paid_amount")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("shipment")

    @admin.display(description=_("insurance claim"))
    def link(self, obj) -> str:
        return _link("admin:aftersales_insuranceclaim_change", obj.pk, obj.number)


class OrderRefundNoteInline(ReadOnlyInline):
    model = models.RefundNote
    fields = ("link", "amount", "destination", "state", "created_at", "paid_at")

    @admin.display(description=_("refund note"))
    def link(self, obj) -> str:
        return _link("admin:aftersales_refundnote_change", obj.pk, obj.number)


# On orders' order page (orders cannot import after-sales).
contribute(Order, inlines=[OrderRequestInline, OrderRefundNoteInline, OrderClaimInline])


class CustomerRequestInline(OrderRequestInline):
    """A customer's after-sales requests on their admin page, newest first."""

    fk_name = "customer"
    fields = ("link", "order", "kind", "status", "due_at", "created_at")
    ordering = ("-created_at",)


def customer_requests_link(request, customer):
    if not request.user.has_perm("aftersales.view_aftersale"):
        return None
    return _("After-sales requests"), reverse(
        "admin:aftersales_aftersale_changelist"
    ) + f"?customer__id__exact={customer.pk}"


# On shop's customer admin (用户信息管理).
contribute(get_user_model(), inlines=[CustomerRequestInline], links=[customer_requests_link])

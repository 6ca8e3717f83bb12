"""Review moderation in the admin: the list (product, rating, default / photos / follow-up /
reply / hidden flags, filters), each review read only, and one "Moderate" page per review to
reply (the customer is mailed), hide with a reason or show again, each a form calling one
service of aftersales.services.reviews. Viewing needs aftersales.view_review; replying, hiding
and showing need aftersales.moderate_review. Reviews are never added or deleted here: a
review that should not be seen is hidden, which also takes it out of the product's rating."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from aftersales.exceptions import AfterSaleError
from aftersales.models import Review
from aftersales.services import reviews as review_services

MODERATE = "aftersales.moderate_review"


class FollowupFilter(admin.SimpleListFilter):
    title = _("follow-up")
    parameter_name = "followup"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(followup_at__isnull=self.value() == "no")
        return queryset


class RepliedFilter(admin.SimpleListFilter):
    title = _("shop's reply")
    parameter_name = "replied"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(replied_at__isnull=self.value() == "no")
        return queryset


class ReplyForm(forms.Form):
    reply = forms.CharField(
        label=_("Reply (public, mailed to the customer)"),
        max_length=review_services.TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
    )


class HideForm(forms.Form):
    reason = forms.CharField(label=_("Why hide it (kept for staff)"), max_length=review_services.REASON_MAX)


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "product",
        "stars",
        "customer",
        "is_default",
        "has_photos",
        "followed_up",
        "replied",
        "is_hidden",
    )
    list_filter = ("rating", "is_default", "has_photos", FollowupFilter, RepliedFilter, "is_hidden", "created_at")
    search_fields = ("product__name", "product__name_en", "customer__email", "order_line__order__number", "text")
    list_select_related = ("product", "customer")
    date_hierarchy = "created_at"
    actions = ["show_again"]
    fields = (
        "moderate_link",
        "product",
        "order",
        "customer",
        "rating",
        "text",
        "is_default",
        "created_at",
        "photos",
        "followup_text",
        "followup_at",
        "reply_text",
        "replied_at",
        "replied_by",
        "is_hidden",
        "hidden_reason",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product", "customer", "replied_by", "order_line__order")

    # Read only: facts are changed through the moderation page's services only.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_moderate_permission(self, request) -> bool:
        return request.user.has_perm(MODERATE)

    @admin.display(description=_("rating"), ordering="rating")
    def stars(self, obj: Review) -> str:
        return "★" * obj.rating + "☆" * (5 - obj.rating)

    @admin.display(description=_("follow-up"), boolean=True)
    def followed_up(self, obj: Review) -> bool:
        return obj.followup_at is not None

    @admin.display(description=_("replied"), boolean=True)
    def replied(self, obj: Review) -> bool:
        return obj.replied_at is not None

    @admin.display(description=_("order"))
    def order(self, obj: Review) -> str:
        order = obj.order_line.order
        return format_html('<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[order.pk]), order.number)

    @admin.display(description=_("photos"))
    def photos(self, obj: Review) -> str:
        pictures = obj.photos.all()
        if not pictures:
            return "—"
        return format_html_join(
            " ",
            '<a href="{}"><img src="{}" alt="" width="80" height="80"></a>{}',
            ((p.image.url, p.image.url, _(" (follow-up)") if p.followup else "") for p in pictures),
        )

    @admin.display(description=_("moderation"))
    def moderate_link(self, obj: Review) -> str:
        return format_html(
            '<a class="button" href="{}">{}</a>',
            reverse("admin:aftersales_review_moderate", args=[obj.pk]),
            _("Reply, hide or show"),
        )

    @admin.action(permissions=["moderate"], description=_("Show the selected hidden reviews again"))
    def show_again(self, request, queryset):
        shown = 0
        for review in queryset.filter(is_hidden=True):
            review_services.review_unhide(review_id=review.pk, actor=request.user)
            self.log_change(request, review, _("Shown again"))
            shown += 1
        self.message_user(
            request, ngettext("%(n)d review shown again.", "%(n)d reviews shown again.", shown) % {"n": shown}
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/moderate/",
                self.admin_site.admin_view(self.moderate_view),
                name="aftersales_review_moderate",
            ),
            *super().get_urls(),
        ]

    def moderate_view(self, request, pk: int):
        """Reply, hide (with a reason) or show again: one form per action, each posting `do`."""
        if not self.has_moderate_permission(request):
            raise PermissionDenied
        review = get_object_or_404(self.get_queryset(request), pk=pk)
        reply_form = ReplyForm(initial={"reply": review.reply_text})
        hide_form = HideForm(initial={"reason": review.hidden_reason})
        if request.method == "POST":
            action = request.POST.get("do")
            try:
                if action == "reply":
                    reply_form = ReplyForm(request.POST)
                    if reply_form.is_valid():
                        review_services.review_reply(
                            review_id=review.pk, actor=request.user, text=reply_form.cleaned_data["reply"]
                        )
                        return self._done(request, review, _("Reply saved; the customer is mailed."))
                elif action == "hide":
                    hide_form = HideForm(request.POST)
                    if hide_form.is_valid():
                        reason = hide_form.cleaned_data["reason"]
                        review_services.review_hide(review_id=review.pk, actor=request.user, reason=reason)
                        return self._done(request, review, _("Hidden: %(reason)s") % {"reason": reason})
                elif action == "show":
                    review_services.review_unhide(review_id=review.pk, actor=request.user)
                    return self._done(request, review, _("Shown again"))
            except AfterSaleError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        return render(
            request,
            "admin/aftersales/review_moderate.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Moderate review"),
                "opts": self.model._meta,
                "review": review,
                "reply_form": reply_form,
                "hide_form": hide_form,
                "change_url": reverse("admin:aftersales_review_change", args=[review.pk]),
            },
        )

    def _done(self, request, review: Review, message: str):
        self.log_change(request, review, message)
        self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:aftersales_review_change", args=[review.pk]))

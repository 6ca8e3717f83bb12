from django.contrib import admin

from cart import models


class LineInline(admin.TabularInline):
    model = models.CartLine
    extra = 0
    raw_id_fields = ("variant",)


@admin.register(models.Cart)
class CartAdmin(admin.ModelAdmin):
    list_display = ("token", "user", "state", "coupon_code", "updated_at")
    list_filter = ("state",)
    search_fields = ("user__email", "token")
    list_select_related = ("user",)
    inlines = [LineInline]

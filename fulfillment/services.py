"""Stock services. For now: counting stock in and keeping products' in-stock flag right.
(Reservations, movements and routing arrive with the fulfillment issue.)"""

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Exists, F, OuterRef

from catalog.models import Product
from fulfillment.models import Stock
from shop.core.pagecache import page_cache_clear


def product_stock_flags_refresh(*, product_ids: Iterable[int] | None = None) -> int:
    """Set Product.in_stock from stock rows: true when any warehouse has one unit available.

    With no ids, refreshes every product whose flag is wrong. Returns rows changed."""
    available = Stock.objects.filter(product_id=OuterRef("pk"), on_hand__gt=F("reserved"), variant__is_active=True)
    products = Product.objects.all()
    if product_ids is not None:
        products = products.filter(pk__in=list(product_ids))
    changed = products.filter(in_stock=True).exclude(Exists(available)).update(in_stock=False)
    changed += products.filter(in_stock=False).filter(Exists(available)).update(in_stock=True)
    if changed:
        page_cache_clear()
    return changed


@transaction.atomic
def stock_set_on_hand(*, warehouse_id: int, variant_id: int, on_hand: int) -> Stock:
    """Count stock: set a variant's on-hand units in a warehouse (stocktake or first listing).

    Raises ValueError when the count is below what is already reserved."""
    stock, _created = Stock.objects.select_for_update().get_or_create(
        warehouse_id=warehouse_id, variant_id=variant_id, defaults={"on_hand": 0}
    )
    if on_hand < stock.reserved:
        raise ValueError(f"on_hand {on_hand} is below the {stock.reserved} units reserved")
    stock.on_hand = on_hand
    stock.save(update_fields=["on_hand"])
    product_stock_flags_refresh(product_ids=[stock.product_id])
    return stock

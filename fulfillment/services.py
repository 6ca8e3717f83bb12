"""Stock services. For now: counting stock in and keeping products' in-stock flag right.
(Reservations, movements and routing arrive with the fulfillment issue.)"""

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Exists, F, OuterRef

from catalog.models import Product
from fulfillment.models import Reservation, Stock
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


class OutOfStock(Exception):
    """Not enough units of a variant are available. `shortages` maps variant id to
    (wanted, available)."""

    def __init__(self, shortages: dict[int, tuple[int, int]]) -> None:
        self.shortages = shortages
        super().__init__(f"out of stock: {shortages}")


def stock_reserve(*, order, wanted: dict[int, int]) -> None:
    """Reserve `wanted` (variant id -> units) for an order, never overselling.

    Each reservation is one conditional UPDATE (`reserved + n <= on_hand`), so concurrent
    buyers cannot oversell; rows are taken in (variant, warehouse) order so that two baskets
    never wait on each other in opposite orders (no deadlock). A line may be split across
    warehouses (routing by distance arrives with the fulfillment issue).
    Precondition: inside the order's transaction; raises OutOfStock, and the caller's rollback
    undoes every reservation made here."""
    shortages: dict[int, tuple[int, int]] = {}
    touched: set[int] = set()
    for variant_id in sorted(wanted):
        remaining = wanted[variant_id]
        rows = Stock.objects.filter(variant_id=variant_id, warehouse__is_active=True).order_by("warehouse_id")
        for stock_id, on_hand, reserved in rows.values_list("pk", "on_hand", "reserved"):
            if remaining == 0:
                break
            take = min(remaining, on_hand - reserved)
            if take <= 0:
                continue
            # The condition is checked again by PostgreSQL after any concurrent update commits.
            if Stock.objects.filter(pk=stock_id, reserved__lte=F("on_hand") - take).update(
                reserved=F("reserved") + take
            ):
                Reservation.objects.create(order=order, stock_id=stock_id, variant_id=variant_id, quantity=take)
                remaining -= take
                touched.add(stock_id)
        if remaining:
            available = sum(max(0, s.on_hand - s.reserved) for s in Stock.objects.filter(variant_id=variant_id))
            shortages[variant_id] = (wanted[variant_id], available)
    if shortages:
        raise OutOfStock(shortages)
    product_ids = list(Stock.objects.filter(pk__in=touched).values_list("product_id", flat=True))
    transaction.on_commit(lambda: product_stock_flags_refresh(product_ids=product_ids))


def stock_release(*, order) -> int:
    """Give back every unreleased reservation of an order (cancelled, or refunded before
    shipping). Idempotent. Returns the units released. Precondition: order row locked."""
    released = 0
    reservations = Reservation.objects.filter(order=order, released=False).order_by("stock_id")
    stock_ids = []
    for reservation in reservations.select_for_update():
        Stock.objects.filter(pk=reservation.stock_id).update(reserved=F("reserved") - reservation.quantity)
        released += reservation.quantity
        stock_ids.append(reservation.stock_id)
    reservations.update(released=True)
    product_ids = list(Stock.objects.filter(pk__in=stock_ids).values_list("product_id", flat=True))
    transaction.on_commit(lambda: product_stock_flags_refresh(product_ids=product_ids))
    return released

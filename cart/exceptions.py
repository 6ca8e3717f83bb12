from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from shop.core.errors import ShopError


class CartErrorCode(StrEnum):
    BAD_QUANTITY = "bad_quantity"
    UNAVAILABLE = "unavailable"
    NOT_ENOUGH = "not_enough"
    EMPTY = "empty"
    PRICE_CHANGED = "price_changed"
    OUT_OF_STOCK = "out_of_stock"
    NO_ADDRESS = "no_address"
    BAD_SHIPPING = "bad_shipping"
    BAD_PAYMENT = "bad_payment"
    STALE = "stale"
    TOO_MANY_UNPAID = "too_many_unpaid"
    TOO_MANY_UNPAID_UNITS = "too_many_unpaid_units"
    TOO_MANY_UNPAID_OF_ONE = "too_many_unpaid_of_one"
    # The two above, counting cash-on-delivery orders not yet shipped (they hold stock unpaid too).
    TOO_MANY_HELD_UNITS = "too_many_held_units"
    TOO_MANY_HELD_OF_ONE = "too_many_held_of_one"
    TOO_MANY_COD = "too_many_cod"  # ORDER_MAX_COD_PER_CUSTOMER orders with cash still to collect
    NOT_FINISHED = "not_finished"
    ADDRESS_LOCKED = "address_locked"
    ALREADY_PACKED = "already_packed"
    SAME_ADDRESS = "same_address"
    WALLET_SHORT = "wallet_short"
    CANNOT_REFUND_DIFFERENCE = "cannot_refund_difference"
    SOLD_OUT = "sold_out"
    ADDRESS_NEEDS_PLACE = "address_needs_place"  # written before the national lists: choose them again
    TOTAL_CHANGED = "total_changed"  # not the total the confirm page showed: show it again
    TOTAL_NOT_SHOWN = "total_not_shown"  # no total (or a garbled one) posted with the place form


class CartError(ShopError):
    messages = {
        CartErrorCode.BAD_QUANTITY: _("Quantity must be a whole number from 1 to %(max)d."),
        CartErrorCode.UNAVAILABLE: _("This product is no longer sold."),
        CartErrorCode.NOT_ENOUGH: _("Only %(n)d of “%(name)s” are available."),
        CartErrorCode.EMPTY: _("Your cart is empty."),
        CartErrorCode.PRICE_CHANGED: _("Some prices changed since you added the items; please check your cart."),
        CartErrorCode.OUT_OF_STOCK: _("Sorry, not enough stock: %(names)s."),
        CartErrorCode.NO_ADDRESS: _("Choose a delivery address."),
        CartErrorCode.BAD_SHIPPING: _("Choose a shipping method."),
        CartErrorCode.BAD_PAYMENT: _("Choose a payment method."),
        CartErrorCode.STALE: _("This cart has already been checked out."),
        CartErrorCode.TOO_MANY_UNPAID: _(
            "You already have %(n)d orders awaiting payment. Pay for or cancel one of them before placing another."
        ),
        CartErrorCode.TOO_MANY_UNPAID_UNITS: _(
            "Orders awaiting payment may hold at most %(max)d items in all; this one would bring yours to %(n)d. "
            "Pay for or cancel an unpaid order first, or order fewer."
        ),
        CartErrorCode.TOO_MANY_UNPAID_OF_ONE: _(
            "Orders awaiting payment may hold at most %(max)d of “%(name)s”; this one would bring yours to %(n)d. "
            "Pay for or cancel an unpaid order first, or order fewer."
        ),
        CartErrorCode.TOO_MANY_HELD_UNITS: _(
            "Orders awaiting payment and cash-on-delivery orders not yet shipped may hold at most %(max)d items "
            "in all; this one would bring yours to %(n)d. Pay for an unpaid order first, or order fewer."
        ),
        CartErrorCode.TOO_MANY_HELD_OF_ONE: _(
            "Orders awaiting payment and cash-on-delivery orders not yet shipped may hold at most %(max)d of "
            "“%(name)s”; this one would bring yours to %(n)d. Pay for an unpaid order first, or order fewer."
        ),
        CartErrorCode.TOO_MANY_COD: _(
            "You already have %(n)d cash-on-delivery orders whose cash has not been collected yet. Pay for this "
            "order online, or choose cash on delivery again once one of them has been delivered."
        ),
        CartErrorCode.NOT_FINISHED: _("An order can be bought again once it is completed, cancelled or closed."),
        CartErrorCode.ADDRESS_LOCKED: _(
            "The delivery address can be changed only while the order awaits payment or shipment."
        ),
        CartErrorCode.ALREADY_PACKED: _(
            "A parcel of this order has already been packed, so its delivery address can no longer be changed."
        ),
        CartErrorCode.SAME_ADDRESS: _("The order already goes to this address."),
        CartErrorCode.WALLET_SHORT: _(
            "Delivering to this address costs %(more)s more for shipping, paid from your wallet, and your "
            "balance (%(balance)s) does not cover it. The address was not changed."
        ),
        CartErrorCode.CANNOT_REFUND_DIFFERENCE: _(
            "The lower shipping fee cannot be refunded automatically; please contact us. The address was not changed."
        ),
        CartErrorCode.ADDRESS_NEEDS_PLACE: _(
            "Choose the province, city and district of this address from the lists, then continue."
        ),
        CartErrorCode.TOTAL_CHANGED: _("The total changed from %(old)s to %(new)s: check the order again."),
        CartErrorCode.TOTAL_NOT_SHOWN: _("Check the order total below, then place the order."),
        CartErrorCode.SOLD_OUT: _(
            "“%(name)s” is out of stock in the option you chose, so it was not added. On its page you can ask "
            "us to email you when it is back."
        ),
    }

"""The account page's favourites and recently viewed products: a partial asks through this tag,
so the page's view (which other parts of the account page also extend) stays as it is."""

from django import template

from catalog.selectors import favourites_of, recently_viewed

register = template.Library()

FAVOURITES_SHOWN = 4


@register.simple_tag
def account_lists(user) -> dict:
    """Three queries: the favourites' count, the latest few, the recently viewed products (their
    ids from the cache)."""
    favourites = favourites_of(customer_id=user.pk)
    return {
        "favourite_count": favourites.count(),
        "favourites": list(favourites[:FAVOURITES_SHOWN]),
        "recently_viewed": recently_viewed(customer_id=user.pk),
    }

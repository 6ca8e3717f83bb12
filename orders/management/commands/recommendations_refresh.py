"""manage.py recommendations_refresh: compute "bought together" and "for you" now (beat runs
the same every RECOMMENDATIONS_REFRESH_MINUTES)."""

from django.core.management.base import BaseCommand

from orders.recommendations import recommendations_refresh


class Command(BaseCommand):
    help = 'Compute the "bought together" lists and each customer\'s "for you" list now.'

    def handle(self, *args, **options):
        outcome = recommendations_refresh()
        self.stdout.write(
            f"{outcome['viewers']} recently viewed lists saved, {outcome['pairs']} bought-together pairs, "
            f"{outcome['customers']} customers with recommendations"
        )

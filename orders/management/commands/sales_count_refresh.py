"""manage.py sales_count_refresh: recompute the products' sales counts (已售) from the sales
rollup now (beat runs the same every SALES_COUNT_REFRESH_MINUTES); --all for every product."""

import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from orders.sales_count import sales_count_refresh


class Command(BaseCommand):
    help = "Recompute the products' sales counts from the sales rollup (those changed since the last run)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--all", action="store_true", dest="full", help="Every product (after rebuilding the rollup)."
        )

    def handle(self, *args, full: bool = False, **options):
        bar = tqdm(desc="sales counts", unit="product", disable=not sys.stderr.isatty(), dynamic_ncols=True)

        def on_batch(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            outcome = sales_count_refresh(full=full, on_batch=on_batch)
        finally:
            bar.close()
        self.stdout.write(f"{outcome['products']} products read, {outcome['written']} sales counts changed")

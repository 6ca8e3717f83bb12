"""manage.py seed_demo --products N: a realistic demo catalogue, with a progress bar."""

from django.conf import settings
from django.core.management.base import BaseCommand

from catalog.models import Product
from shop.core.money import format_money
from shop.demo import (
    CATALOGUE_EMAIL,
    DEMO_COUPONS,
    DEMO_CUSTOMER,
    DEMO_WALLET_TOP_UP,
    DEPARTMENT_EMAIL,
    FINANCE_EMAIL,
    SERVICE_EMAIL,
    WAREHOUSE_EMAIL,
    DemoBuilder,
)


class Command(BaseCommand):
    help = "Build a demo catalogue: categories, brands, products with variants, images and stock."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--products", type=int, default=200, help="How many products to add (default 200).")
        parser.add_argument("--seed", type=int, default=7, help="Random seed, for a repeatable catalogue.")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when products already exist.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, products: int, seed: int, if_empty: bool, no_progress: bool, **options) -> None:
        if products < 1:
            self.stderr.write("--products must be at least 1.")
            raise SystemExit(2)
        if Product.objects.exists() and not settings.DEBUG:
            # A live shop's database: the demo's logins (a superuser among them, their passwords
            # reset to the file's), its wallet top-up and coupons are development aids only.
            self.stderr.write(
                f"The catalogue already has {Product.objects.count()} products and DEBUG is off: "
                "seed_demo changes nothing in a live shop's database (no logins, wallets or coupons)."
            )
            if if_empty:
                return
            raise SystemExit(2)
        if if_empty and Product.objects.exists():
            self.stdout.write(f"The catalogue already has {Product.objects.count()} products; nothing added.")
            report = DemoBuilder(products=0, seed=seed, progress=False)._admin()
            self.stdout.write(f"Admin login: {report[0]} / {report[1]}")
            self.stdout.write(f"Warehouse staff login: {WAREHOUSE_EMAIL} / {report[1]}")
            self.stdout.write(f"Customer service login: {SERVICE_EMAIL} / {report[1]}")
            self.stdout.write(f"Finance login: {FINANCE_EMAIL} / {report[1]}")
            self.stdout.write(f"Catalogue manager login: {CATALOGUE_EMAIL} / {report[1]}")
            self.stdout.write(f"Department staff login: {DEPARTMENT_EMAIL} / {report[1]}")
            self.stdout.write(f"Demo customer login: {DEMO_CUSTOMER} / {report[1]}")
            # A database seeded before the demo had coupons and a topped-up wallet gets them now.
            DemoBuilder(products=0, seed=seed, progress=False)._wallet_and_coupons()
            self.stdout.write(f"Demo customer wallet: {format_money(DEMO_WALLET_TOP_UP)} topped up")
            self.stdout.write("Coupons: " + "; ".join(f"{code} ({text})" for code, *_rest, text in DEMO_COUPONS))
            return
        report = DemoBuilder(products=products, seed=seed, progress=not no_progress).build()
        self.stdout.write(
            self.style.SUCCESS(
                f"Added {report.products} products, {report.variants} variants, {report.stock_rows} stock rows."
            )
        )
        self.stdout.write(f"Admin login: {report.admin_email} / {report.admin_password}")
        self.stdout.write(f"Warehouse staff login: {WAREHOUSE_EMAIL} / {report.admin_password}")
        self.stdout.write(f"Customer service login: {SERVICE_EMAIL} / {report.admin_password}")
        self.stdout.write(f"Finance login: {FINANCE_EMAIL} / {report.admin_password}")
        self.stdout.write(f"Catalogue manager login: {CATALOGUE_EMAIL} / {report.admin_password}")
        self.stdout.write(f"Department staff login: {DEPARTMENT_EMAIL} / {report.admin_password}")
        self.stdout.write(f"Demo customer login: {DEMO_CUSTOMER} / {report.admin_password}")
        self.stdout.write(f"Demo customer wallet: {format_money(DEMO_WALLET_TOP_UP)} topped up")
        self.stdout.write("Coupons: " + "; ".join(f"{code} ({text})" for code, *_rest, text in DEMO_COUPONS))

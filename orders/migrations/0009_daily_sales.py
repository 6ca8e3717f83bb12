import django.db.models.deletion
from django.db import migrations, models

# On PostgreSQL the unique constraints also carry the figures (INCLUDE), so that a period is summed
# by an index-only scan. Django's state keeps them as plain unique constraints of the same names:
# SQLite has no covering indexes and, declared with INCLUDE, would get no unique index at all,
# which the upserts (ON CONFLICT) need.
COVERING = [
    ("orders_dailysales", "daily_sales_one_row", "day, variant_id, department_id",
     "product_id, units, orders, product_orders, gross, refunds"),
    ("orders_dailysalestotal", "daily_sales_total_one_row", "day, department_id", "units, gross, refunds"),
]  # fmt: skip


def covering(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, name, keys, figures in COVERING:
        schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        schema_editor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({keys}) INCLUDE ({figures})")


def plain(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, name, keys, _figures in COVERING:
        schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        schema_editor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({keys})")


class Migration(migrations.Migration):
    # The rollup starts empty: aftersales fills it after migrate (its post_migrate receiver
    # rebuilds it from the orders and refund notes when it is empty and orders were paid).

    dependencies = [
        ("catalog", "0006_back_office"),
        ("orders", "0008_notification_back_office"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="order",
            index=models.Index(condition=models.Q(("paid_at__isnull", False)), fields=["paid_at"], name="order_paid"),
        ),
        migrations.CreateModel(
            name="DailySales",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField(verbose_name="day")),
                ("department_id", models.BigIntegerField()),
                ("units", models.IntegerField(default=0, verbose_name="units sold")),
                ("orders", models.IntegerField(default=0, verbose_name="orders")),
                ("product_orders", models.IntegerField(default=0)),
                (
                    "gross",
                    models.DecimalField(decimal_places=2, default=0, max_digits=12, verbose_name="gross revenue"),
                ),
                ("refunded_units", models.IntegerField(default=0, verbose_name="units refunded")),
                ("refunds", models.DecimalField(decimal_places=2, default=0, max_digits=12, verbose_name="refunds")),
                (
                    "product",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="catalog.product",
                    ),
                ),
                (
                    "variant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="catalog.productvariant",
                        verbose_name="variant",
                    ),
                ),
            ],
            options={
                "verbose_name": "daily sales",
                "verbose_name_plural": "sales report",
                "indexes": [models.Index(fields=["product", "day"], name="daily_sales_product")],
                "constraints": [
                    models.UniqueConstraint(fields=("day", "variant", "department_id"), name="daily_sales_one_row")
                ],
            },
        ),
        migrations.CreateModel(
            name="DailySalesTotal",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField(verbose_name="day")),
                ("department_id", models.BigIntegerField()),
                ("units", models.IntegerField(default=0, verbose_name="units sold")),
                (
                    "gross",
                    models.DecimalField(decimal_places=2, default=0, max_digits=12, verbose_name="gross revenue"),
                ),
                ("refunds", models.DecimalField(decimal_places=2, default=0, max_digits=12, verbose_name="refunds")),
            ],
            options={
                "verbose_name": "daily sales total",
                "verbose_name_plural": "daily sales totals",
                "constraints": [
                    models.UniqueConstraint(fields=("day", "department_id"), name="daily_sales_total_one_row")
                ],
            },
        ),
        migrations.RunPython(covering, plain, elidable=False),
    ]

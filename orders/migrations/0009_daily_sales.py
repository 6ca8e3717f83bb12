import django.db.models.deletion
from django.db import migrations, models


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
                ("gross", models.DecimalField(decimal_places=2, default=0, max_digits=12, verbose_name="gross revenue")),
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
                    models.UniqueConstraint(
                        fields=("day", "variant", "department_id"),
                        include=("product", "units", "orders", "product_orders", "gross", "refunds"),
                        name="daily_sales_one_row",
                    )
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
                ("gross", models.DecimalField(decimal_places=2, default=0, max_digits=12, verbose_name="gross revenue")),
                ("refunds", models.DecimalField(decimal_places=2, default=0, max_digits=12, verbose_name="refunds")),
            ],
            options={
                "verbose_name": "daily sales total",
                "verbose_name_plural": "daily sales totals",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "department_id"),
                        include=("units", "gross", "refunds"),
                        name="daily_sales_total_one_row",
                    )
                ],
            },
        ),
    ]

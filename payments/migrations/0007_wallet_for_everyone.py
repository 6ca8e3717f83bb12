"""Every account has a wallet: the accounts made before get theirs (empty), and an empty wallet
now goes with its account instead of holding it (a wallet with entries still cannot go: the
entries PROTECT it)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def open_missing_wallets(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Wallet = apps.get_model("payments", "Wallet")
    missing = User.objects.filter(wallet__isnull=True).order_by("pk").values_list("pk", flat=True)
    batch = []
    for user_id in missing.iterator(chunk_size=2000):
        batch.append(Wallet(user_id=user_id))
        if len(batch) == 2000:
            Wallet.objects.bulk_create(batch)
            batch = []
    Wallet.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0006_payment_purpose"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="wallet",
            name="user",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.CASCADE, related_name="wallet", to=settings.AUTH_USER_MODEL
            ),
        ),
        # Nothing to undo going back: the wallets opened are empty and harmless.
        migrations.RunPython(open_missing_wallets, migrations.RunPython.noop),
    ]

"""Password-reset mails used to keep their link in the outbox (the token in `key`, the whole
link in `context.url`), readable by anyone who could view notifications. The link is now made
when the mail is sent, so every stored one is removed: a sent mail needs it no more, and a
pending one gets a fresh link when it goes out."""

from django.db import migrations
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat


def blank_reset_secrets(apps, schema_editor):
    Notification = apps.get_model("orders", "Notification")
    Notification.objects.filter(kind="password_reset").update(
        # Still unique (the row's own id), and no longer the token.
        key=Concat(
            Value("password_reset:"),
            Cast("user_id", CharField()),
            Value(":legacy-"),
            Cast("id", CharField()),
            output_field=CharField(),
        ),
        context={},
    )


class Migration(migrations.Migration):
    dependencies = [("orders", "0003_order_delivered_at_alter_notification_kind_and_more")]

    operations = [migrations.RunPython(blank_reset_secrets, migrations.RunPython.noop)]

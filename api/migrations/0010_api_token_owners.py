from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def expiries_shorten(apps, schema_editor):
    """Tokens made before API_TOKEN_MAX_DAYS live no longer than it from now. They have no owner:
    they are service tokens of the platform admins until replaced by owned ones."""
    latest = timezone.now() + timedelta(days=settings.API_TOKEN_MAX_DAYS)
    apps.get_model("api", "ApiToken").objects.filter(expires_at__gt=latest).update(
        expires_at=latest
    )


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0009_api_tokens"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="owner",
            field=models.CharField(
                blank=True,
                help_text="The directory account it acts for; empty: a service token of the admins.",
                max_length=150,
            ),
        ),
        migrations.RunPython(expiries_shorten, migrations.RunPython.noop),
    ]

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("onboarding", "0018_sweeps_and_resent_runs"),
    ]

    operations = [
        migrations.AddField(
            model_name="team",
            name="system_settings",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("onboarding", "0022_jupyterhub_group_setting")]

    operations = [
        migrations.RemoveField(model_name="team", name="jupyterhub_group"),
    ]

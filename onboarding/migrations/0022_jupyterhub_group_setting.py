"""Each team's JupyterHub group moves from its column into the JupyterHub system's team setting
(`system_settings["jupyterhub"]["group"]`); reversed, the setting goes back into the column."""

from django.db import migrations

SYSTEM, SETTING = "jupyterhub", "group"


def group_to_setting(apps, schema_editor):
    Team = apps.get_model("onboarding", "Team")
    for team in Team.objects.exclude(jupyterhub_group=""):
        settings = dict(team.system_settings or {})
        settings[SYSTEM] = {**settings.get(SYSTEM, {}), SETTING: team.jupyterhub_group}
        team.system_settings = settings
        team.save(update_fields=["system_settings"])


def setting_to_group(apps, schema_editor):
    Team = apps.get_model("onboarding", "Team")
    for team in Team.objects.filter(system_settings__has_key=SYSTEM):
        settings = dict(team.system_settings)
        own = dict(settings[SYSTEM])
        team.jupyterhub_group = own.pop(SETTING, "") or ""
        if own:
            settings[SYSTEM] = own
        else:
            del settings[SYSTEM]
        team.system_settings = settings
        team.save(update_fields=["jupyterhub_group", "system_settings"])


class Migration(migrations.Migration):
    dependencies = [("onboarding", "0021_enrolments")]

    operations = [migrations.RunPython(group_to_setting, setting_to_group)]

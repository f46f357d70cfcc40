from onboarding.management.commands._base import LifecycleCommand, as_json
from onboarding.models import Person
from onboarding.selectors import person_get


class Command(LifecycleCommand):
    help = "Show people's lifecycle status and their latest run (--json for scripts)."

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        people = Person.objects.select_related("team").order_by("username")
        if options["username"]:
            people = people.filter(pk=person_get(options["username"]).pk)
        rows = []
        for person in people:
            run = person.runs.order_by("-created_at").first()
            row = {
                "username": person.username,
                "team": person.team.name,
                "status": person.status,
                "uid_number": person.uid_number,
                "run": None,
            }
            if run is not None:
                row["run"] = {
                    "id": run.pk,
                    "kind": run.kind,
                    "state": run.state,
                    "error": run.error,
                    "steps": [
                        {"name": s.name, "state": s.state, "attempts": s.attempts,
                         "error": s.last_error}
                        for s in run.steps.order_by("position")
                    ],
                }  # fmt: skip
            rows.append(row)
        if options["json"]:
            self.stdout.write(as_json(rows))
            return
        self.stdout.write(f"{'USERNAME':<20} {'TEAM':<16} {'STATUS':<12} LATEST RUN")
        for row in rows:
            run = row["run"]
            latest = f"#{run['id']} {run['kind']} {run['state']}" if run else "-"
            self.stdout.write(
                f"{row['username']:<20} {row['team']:<16} {row['status']:<12} {latest}"
            )
            if run and options["username"]:
                for step in run["steps"]:
                    error = f"  {step['error']}" if step["error"] else ""
                    self.stdout.write(f"    {step['name']:<28} {step['state']:<8}{error}")

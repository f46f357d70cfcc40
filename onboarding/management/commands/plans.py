from onboarding.management.commands._base import LifecycleCommand
from onboarding.plans import STAGES, plan_for


class Command(LifecycleCommand):
    help = "Print every lifecycle plan: its stages and the steps the enabled systems put in each."

    def handle(self, *args, **options):
        for kind, stages in STAGES.items():
            plan = plan_for(kind)
            self.stdout.write(f"{kind}:")
            for stage in stages:
                self.stdout.write(f"  {stage.name}: {stage.description}")
                for step in plan.steps:
                    if plan.stage_of[step.name] == stage.name:
                        self.stdout.write(
                            f"    {step.name:<28} {step.system:<11} {step.description}"
                        )

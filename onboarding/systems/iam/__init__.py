"""IAM: each person's SAML-federated role, usable only by them, with their team's policies."""

from __future__ import annotations

import re

from django.conf import settings

from onboarding.errors import AccessAdminError
from onboarding.models import Person, Team
from onboarding.systems.base import Check, ManagedObject, System, SystemState
from onboarding.systems.iam import steps as s
from onboarding.systems.iam.client import ACTIONS, IAM

ROLE = "role"
_SAML_PROVIDER_ARN = re.compile(r"arn:aws[-a-z]*:iam::\d{12}:saml-provider/[\w+=,.@-]{1,128}")


class IAMSystem(System):
    name = "iam"
    label = "IAM"
    steps = {
        ("onboard", "cloud_role"): (s.ROLE_CREATE,),
        ("offboard", "services"): (s.ROLE_DELETE,),
        ("move", "team"): (s.TEAM_POLICIES_SWITCH,),
        ("reinstate", "cloud_role"): (s.ROLE_CREATE,),
        ("repair", "cloud_role"): (s.ROLE_REPAIR,),
    }

    def client_build(self) -> IAM:
        return IAM.from_settings()

    def person_state(self, person: Person) -> SystemState:
        role = self.client.role_find(username=person.username)
        if role is None:
            return SystemState(self.label, False, "no role")
        policies = ", ".join(role.policy_arns) or "no team policies"
        return SystemState(
            self.label, True, f"role {role.name} (team {role.team}); policies: {policies}"
        )

    def inventory(self) -> list[ManagedObject]:
        """Every role under AccessAdmin's path and prefix, with its team tag and attached
        policies: one listing."""
        return [
            ManagedObject(
                self.name,
                ROLE,
                role.name,
                role.username,
                f"team {role.team or '(none)'}; policies: {_words(role.policy_arns)}"
                + ("" if role.managed else "; not tagged managed-by=accessadmin"),
                {"team": role.team, "policies": _words(role.policy_arns)},
            )
            for role in self.client.roles()
        ]

    def orphan_remove(self, item: ManagedObject) -> None:
        """Its policies detached and the role deleted; a role AccessAdmin did not tag is refused."""
        self.client.role_delete(username=item.username)

    def expected(self, person: Person) -> list[ManagedObject]:
        team = person.team
        compared = {"team": team.name, "policies": _words(team.iam_policy_arns)}
        return [ManagedObject(self.name, ROLE, "", person.username, "", compared)]

    def policy_problem(self, arn: str) -> str | None:
        if self.client.policy_exists(arn=arn):
            return None
        return f"{arn} does not exist in IAM."

    def settings_problems(self) -> list[str]:
        problems = []
        arn = settings.IAM_SAML_PROVIDER_ARN
        if not arn:
            problems.append("IAM_SAML_PROVIDER_ARN is not set")
        elif not _SAML_PROVIDER_ARN.fullmatch(arn):
            problems.append(f"IAM_SAML_PROVIDER_ARN {arn!r} is not a SAML provider ARN")
        for audience in settings.IAM_SAML_AUDIENCES:
            if not (audience.startswith("https://") and audience.endswith("/saml")):
                problems.append(
                    f"IAM_SAML_AUDIENCES: {audience!r} is not a sign-in endpoint "
                    "(https://[<region>.]signin.aws.amazon.com/saml)"
                )
        if not settings.IAM_SAML_AUDIENCES:
            problems.append("IAM_SAML_AUDIENCES is empty: nobody could enter a role")
        path = settings.IAM_ROLE_PATH
        if not (path.startswith("/") and path.endswith("/")):
            problems.append(f"IAM_ROLE_PATH {path!r} must start and end with /")
        if not settings.AWS_REGION:
            problems.append("AWS_REGION is not set")
        return problems

    def credentials_check(self) -> str:
        return self.client.saml_provider_describe()

    def preflight(self) -> list[Check]:
        iam: IAM = self.client
        try:
            checks = [Check("SAML provider", Check.OK, iam.saml_provider_describe())]
            quotas = iam.account_quotas()
            missing = iam.permissions_missing(ACTIONS)
        except AccessAdminError as error:
            return [Check("service account", Check.FAILED, str(error))]
        if missing is None:
            checks.append(
                Check(
                    "permissions",
                    Check.WARNING,
                    "IAM's policy simulator could not be asked; only the calls above were tried",
                    "allow iam:SimulatePrincipalPolicy on the service account to have each action "
                    "checked",
                )
            )
        for action in missing or ():
            checks.append(
                Check(
                    f"permission {action}",
                    Check.FAILED,
                    "denied by IAM's policy simulator",
                    "add it to the service account's policy (README: AWS permissions)",
                )
            )
        if missing == []:
            checks.append(Check("permissions", Check.OK, f"all {len(ACTIONS)} actions allowed"))
        roles, allowed = quotas.get("Roles", 0), quotas.get("RolesQuota", 0)
        verdict = Check.WARNING if allowed and roles >= allowed * 0.9 else Check.OK
        checks.append(
            Check(
                "roles in the account",
                verdict,
                f"{roles} of {allowed}",
                "ask AWS for a higher IAM roles quota" if verdict != Check.OK else "",
            )
        )
        limit = quotas.get("AttachedPoliciesPerRoleQuota", 10)
        for team in Team.objects.all():
            problem = self.team_problem(team)
            if problem:
                checks.append(
                    Check(
                        f"team {team.name}",
                        Check.FAILED,
                        problem,
                        "remove policies from the team or raise the IAM quota",
                    )
                )
        checks.append(Check("policies per role", Check.OK, f"at most {limit}"))
        return checks

    def team_problem(self, team: Team) -> str | None:
        limit = self.client.account_quotas().get("AttachedPoliciesPerRoleQuota", 10)
        if len(team.iam_policy_arns) > limit:
            return (
                f"team {team.name} has {len(team.iam_policy_arns)} IAM policies; a role may hold "
                f"at most {limit} (AttachedPoliciesPerRoleQuota)"
            )
        return None


def _words(policy_arns) -> str:
    return ", ".join(sorted(policy_arns)) or "none"

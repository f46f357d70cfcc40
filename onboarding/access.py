"""Who may see and do what: the one place that decides, for the web UI, the API and SCIM alike.

Platform admins (the directory's admin group, or a local superuser) see and do everything. A team
lead (named on the Team, or a member manager of its FreeIPA group) sees and acts on their teams'
people and runs only. A privileged person (an admin, a lead, someone with powers in FreeIPA itself)
is for platform admins alone to act on.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from onboarding.directory import rights_find
from onboarding.enrolment.service import enrolment_applies
from onboarding.errors import DirectoryUnavailable, InvalidInput, PersonAlreadyKnown
from onboarding.models import AuditEvent, LifecycleRun, Person, Team


@dataclass(frozen=True)
class Access:
    user_id: int | None
    username: str
    is_admin: bool
    led_team_ids: frozenset[int]

    @property
    def has_access(self) -> bool:
        return self.is_admin or bool(self.led_team_ids)

    def teams(self) -> QuerySet[Team]:
        if self.is_admin:
            return Team.objects.all()
        return Team.objects.filter(pk__in=self.led_team_ids)

    def people(self) -> QuerySet[Person]:
        if self.is_admin:
            return Person.objects.all()
        return Person.objects.filter(team_id__in=self.led_team_ids)

    def runs(self) -> QuerySet[LifecycleRun]:
        if self.is_admin:
            return LifecycleRun.objects.all()
        return LifecycleRun.objects.filter(person__team_id__in=self.led_team_ids)

    def events(self) -> QuerySet[AuditEvent]:
        if self.is_admin:
            return AuditEvent.objects.all()
        usernames = Person.objects.filter(team_id__in=self.led_team_ids).values("username")
        return AuditEvent.objects.filter(target__in=usernames)

    def may_act_on_team(self, team_id: int) -> bool:
        return self.is_admin or team_id in self.led_team_ids

    def may_act_on(self, person: Person) -> bool:
        """Admins act on anyone; a lead on the ordinary members of the teams they lead."""
        if self.is_admin:
            return True
        return person.team_id in self.led_team_ids and not person_is_privileged(person.username)

    def may_reveal_credentials(self, run: LifecycleRun) -> bool:
        """Whoever asked for the run: the secrets are theirs to hand over. A run nobody asked
        for in the web UI (an API or scheduled run without `hand_over_to`) is handed over by
        the person's team's leads or an admin, whoever reveals first: no run's credentials are
        beyond everyone's reach."""
        if enrolment_applies(run):
            return False  # the person's own link shows them; nobody else sees a secret
        if self.user_id is not None and run.requested_by_id == self.user_id:
            return True
        return run.requested_by_id is None and self.may_act_on(run.person)

    def may_resume_or_roll_back(self, run: LifecycleRun) -> bool:
        return self.is_admin


def person_is_privileged(username: str) -> bool:
    """A platform admin, a team lead, a FreeIPA admin or role holder, or AccessAdmin's own
    service account, here or in the directory; when the directory does not answer, assume so
    (only an admin may then act on them)."""
    if username == settings.FREEIPA_USERNAME:
        return True
    if Team.objects.filter(leads__username=username).exists():
        return True
    try:
        return rights_find(username).privileged
    except DirectoryUnavailable:
        return True


# Where a person stands once they are asked to leave: no longer someone who acts.
LEAVING = (Person.Status.OFFBOARDING, Person.Status.OFFBOARDED)


def rights_now_refusal(username: str, *, team: Team | None) -> str:
    """Why `username` may not act now as a platform admin (`team` None) or on `team`; "" when
    they may. Asked of the directory itself, never of a session's cached rights nor of the copy
    of the admin group Django keeps (an offboarded admin's is never cleared). A local
    break-glass account acts only as the superuser it is."""
    user = get_user_model().objects.filter(username=username).first()
    if user is not None and has_local_password(user):
        if user.is_active and user.is_superuser:
            return ""
        return f"{username} is not an active local superuser"
    if Person.objects.filter(username=username, status__in=LEAVING).exists():
        return f"{username} is offboarded"
    try:
        rights = rights_find(username)
    except DirectoryUnavailable as error:
        return f"{username}'s rights cannot be confirmed: {error}"
    if not rights.exists or rights.disabled:
        return f"{username} is disabled or not in the directory"
    if rights.is_admin:
        return ""
    if team is None:
        return f"{username} is not a platform admin"
    if team.freeipa_group in rights.managed_groups or team.leads.filter(username=username).exists():
        return ""
    return f"{username} does not lead team {team.name}"


UNAVAILABLE = "The username {username!r} is not available; choose another."


def onboard_takeover_refuse(access: Access, username: str) -> None:
    """A username someone else's team holds is not available to a lead, and the lead is not
    told whose it is or where it stands."""
    other = Person.objects.filter(username=username).exclude(team__in=access.teams())
    if not access.is_admin and other.exists():
        raise InvalidInput(UNAVAILABLE.format(username=username))


def refusal_for(access: Access, error: Exception) -> str:
    """What a lead may read of a refusal: nothing about where others' people stand."""
    if not access.is_admin and isinstance(error, PersonAlreadyKnown):
        return UNAVAILABLE.format(username=error.username)
    return str(error)


NO_ACCESS = Access(user_id=None, username="", is_admin=False, led_team_ids=frozenset())


def user_access(user, *, managed: list[str] = ()) -> Access:
    """What an active user may do: as an admin, or as the lead of the teams naming them (and,
    once they have logged in, of the teams whose FreeIPA group they manage: `managed`)."""
    is_admin = user.is_superuser or user.groups.filter(name=settings.LDAP_ADMIN_GROUP).exists()
    led: frozenset[int] = frozenset()
    if not is_admin:
        led = frozenset(
            Team.objects.filter(Q(leads=user) | Q(freeipa_group__in=managed))
            .values_list("pk", flat=True)
            .distinct()
        )
    return Access(user.pk, user.get_username(), is_admin, led)


def has_local_password(user) -> bool:
    """A password set here (createsuperuser); accounts made for team leads have none at all."""
    return bool(user.password) and user.has_usable_password()

"""The engine's data, one module a part of it; everything is imported from here."""

from onboarding.models.audit import (
    AuditChain,
    AuditEvent,
    AuditEventQuerySet,
    audit_chain_name,
    audit_key,
)
from onboarding.models.findings import Finding, FindingQuerySet
from onboarding.models.people import Person, Team
from onboarding.models.reviews import AccessReview, ReviewItem
from onboarding.models.runs import (
    PERSON_STATUS,
    Credential,
    LifecycleRequest,
    LifecycleRun,
    LifecycleRunQuerySet,
    Step,
    Sweep,
)

__all__ = [
    "PERSON_STATUS",
    "AccessReview",
    "AuditChain",
    "AuditEvent",
    "AuditEventQuerySet",
    "Credential",
    "Finding",
    "FindingQuerySet",
    "LifecycleRequest",
    "LifecycleRun",
    "LifecycleRunQuerySet",
    "Person",
    "ReviewItem",
    "Step",
    "Sweep",
    "Team",
    "audit_chain_name",
    "audit_key",
]

# Kept in its own package; imported here so Django finds it with the app's other models.
from onboarding.enrolment.models import Enrolment

__all__ += ["Enrolment"]

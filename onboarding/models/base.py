"""What the models' state machines share: a transition checked, and a row moved only if nobody
moved it first."""

from django.db import models

from onboarding.errors import IllegalTransition


def transition_check(thing: str, transitions: dict, current: str, wanted: str) -> None:
    if wanted not in transitions.get(current, ()):
        raise IllegalTransition(thing, current, wanted)


def state_swap(row: models.Model, thing: str, state: str, fields: dict) -> bool:
    """Move a row with a ``state`` field, if legal, unless someone else moved it first."""
    transition_check(thing, row.TRANSITIONS, row.state, state)
    changed = type(row).objects.filter(pk=row.pk, state=row.state).update(state=state, **fields)
    if changed:
        row.state = state
        for name, value in fields.items():
            setattr(row, name, value)
    return bool(changed)

"""What the engine tells whoever listens (the web UI) without knowing them."""

from django.dispatch import Signal

# Sent with `username` when someone's offboarding is asked for: whatever sessions they hold in
# AccessAdmin end now, not when they expire.
person_offboard_requested = Signal()

# Sent by `manage.py preflight`; a receiver returns (label, Check) for something outside the
# engine that a run or a login needs (the web UI's directory login).
preflight_requested = Signal()

# Sent with `run` when a worker first moves a run to running, in the transaction that records it;
# not when a run goes on after a retry, a resume or a lost worker (its start is recorded already).
run_started = Signal()

# Sent with `run` when a run has ended (succeeded, failed, or rolled back), in the transaction
# that records it; receivers act once it is committed (transaction.on_commit).
run_finished = Signal()

# Sent with `findings` (saved, with ids) when a reconciliation pass finds what no earlier pass
# found, in the transaction that stores them.
findings_found = Signal()

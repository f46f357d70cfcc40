"""Self-service enrolment: a newcomer's one-time link to enrol their own OTP token and choose
their own password, so no secret passes through anyone else's hands (README: First login)."""

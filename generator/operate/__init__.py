"""Operate: what a user does with a valid profile: validate's report, plan, diff, deploy, setup,
preflight, rollback, pin-revision, smoke and bench. Only this wing reaches Modal, the Hub or an
endpoint."""

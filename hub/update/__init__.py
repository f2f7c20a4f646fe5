"""Software updates: A/B root slots, signed bundles, health check and rollback.

command (pure): the fleet's signed `cmd/update` envelope and the bundle's manifest checks.
health (pure): when a freshly installed slot is good, still on trial, or bad.
state (pure): the update's phases, what the hub reports on `.../update/reported`.
files: the state file shared by the hub and the root-side installer, written atomically.
agent: the hub's side (verify the command, download, hand over, report).
apply: the root side (rauc install, reboot when quiet, the boot health check).
admin: `pingan-hub fleet update` on the admin's machine.
"""

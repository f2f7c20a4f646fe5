"""Fleet admin tools: `keygen`, `sign-config`, `fleet push`, `fleet status`.

These run on the admin's machine, not on a hub. The private key never leaves it: hubs
hold only the public key (`[fleet] public_keys` in their local config).

A group push is one envelope, signed once with `"group": G`, published retained to each
listed hub's own `{prefix}/{hub}/config/desired`. There is no group topic: every hub
reads only topics under its own root, so the broker's per-hub ACL (e.g. mosquitto's
`pattern read pingan/v1/%c/#`) stays one rule, and a hub that joins late still finds its
config retained on its own topic. The admin names the hubs (`--hub`, or `--hubs FILE`
with one id per line); the hub itself checks that it is in the group.

At city scale (README "Fleet at city scale"): `fleet push` publishes at a steady rate
(`--rate`, per second) with a bounded number awaiting PUBACK, moves to the next node of
the cluster (`--broker` repeated) when its connection is lost, and writes each hub whose
envelope the broker PUBACKed to a journal beside the envelope: run the same command
again after an interruption and it goes on with the hubs not yet done. `fleet watch`
keeps the fleet's state in a file; `fleet status --state FILE` reads
it: counts by state, software and config version first, then the hubs asked for
(`--lagging`, `--offline-since`, `--all`).

The modules: `broker` (how the tools reach one node or a cluster's), `signing` (`keygen`,
`sign-config`), `push` (`fleet push`: pacing, journal, node failover), `watch` (`fleet
watch`: the fleet's state in SQLite), `status` (`fleet status`: counts, laggards,
tables), `cli` (the sub-commands). Nothing is imported here: `pingan-hub` loads only
what the command it runs needs.
"""

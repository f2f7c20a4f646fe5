"""The hub's running rooms: each concern of a running hub (alarms, readings, care,
devices, speech, fleet config, ...) as one service over the pure packages and IO edges.
`hub.app.Hub` only builds them from the config and starts and stops them."""

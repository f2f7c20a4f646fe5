"""The MQTT session with the cloud alarm service."""

"""The MQTT bus: the receive-only subscriber and the heartbeat ingest."""

"""Dispatch: claiming queued deliveries, sending them through a Channel, recording outcomes."""

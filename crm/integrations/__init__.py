"""Integrations: API keys, webhook subscriptions, the webhook outbox and its deliveries."""

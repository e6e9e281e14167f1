"""Interactions: ingesting inbound messages, outbound records, and engagement (who wrote back)."""

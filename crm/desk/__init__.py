"""The desk: conversations, routing rules, business hours, follow-ups, the desk report."""

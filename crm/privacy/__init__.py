"""Privacy: marketing consent, unsubscribe tokens, export and erasure requests."""

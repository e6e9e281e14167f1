"""Customer value: orders, loyalty points and tiers, and the recomputed value scores."""

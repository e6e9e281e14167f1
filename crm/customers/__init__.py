"""Customers: profiles, channel identities, tags, merging and linking one person known twice."""

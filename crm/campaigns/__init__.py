"""Campaigns: definitions and schedules, templates, runs, surveys, and the programmes they serve."""

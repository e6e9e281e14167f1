"""Segments: JSON rules over customer fields, compiled to SQL, and saved segments."""

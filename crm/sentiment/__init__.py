"""Sentiment: language detection, the lexicon and the scorer stored with each interaction."""

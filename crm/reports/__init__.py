"""Reports: programme figures and retention series, one SQL aggregate each."""

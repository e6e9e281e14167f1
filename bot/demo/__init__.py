"""Demo data: a separate database of realistic synthetic customers to try reports on.

What it holds: customers on email, Telegram or both, with per-channel consent;
orders over about 18 months with each buyer's own rhythm (some lapse, so churn
risk means something) and the loyalty points they earned; conversations with
plausible messages and their real sentiment scores, some flagged as
complaints; a year of monthly CSAT, quarterly NPS, a VIP survey and a
promotion, with deliveries and survey answers (satisfaction rising slowly over
the year, so the charts have a trend to show); and the customer values
computed from all that.

guard.py keeps it away from real data, phrases.py holds the words, draw.py
draws the rows in memory and fill.py (`fill_demo`, `count_rows`) writes them.
"""

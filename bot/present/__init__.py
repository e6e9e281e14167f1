"""How Rapport shows figures, times and tables to people: one style everywhere.

The CLI, the Telegram report texts, the CSV exports, the charts and the web
console all format through this package, so a percentage, an amount or a
time reads the same wherever a shop owner meets it:

- `numbers`: percentages with one decimal, money in the shop's currency with
  its minor units, counts with thousands separators, scores, durations;
- `times`: moments in the business's time zone with the zone shown, days,
  periods, and the "partial" mark for a period still running;
- `listing`: a table as data (columns with short headers, a legend, which
  columns a reader needs first) and its CSV and JSON forms with one
  documented unit per column (docs/reports.md).

Pure functions over plain data: nothing here imports Rich, Telegram or
matplotlib, so every front end can use it.
"""

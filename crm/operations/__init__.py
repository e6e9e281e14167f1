"""Running Rapport itself: dead letters, the health of its tasks, once-only claims.

`dead_letters` keeps inbound updates a channel could not parse or handle,
`health` the state of each long-running task of `rapport run`, `claims` the
staff commands already handled (so a retry repeats no side effect). Staff
read the first two with `rapport telegram failed` and `rapport health`.
"""

"""Staff in Telegram: the command kit, the commands by area, the desk and the desk round.

Dependencies run one way: kit.py (the call, the spec, pages, answers) is used
by the command modules (customers, campaigns, reports, privacy, desk,
desk_report); registry.py gathers them into `COMMANDS` and runs them;
catalogue.py writes docs/staff-commands.md from the registry; desk_round.py
(the DeskService of `rapport run`) builds on the desk.
"""

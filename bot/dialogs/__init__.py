"""The customer side of the Telegram bot: texts, storing and answering, linking, handlers.

base.py stores what came in before anything is answered; texts.py holds the
words; linking.py the `/link` dialog; customer.py the handlers in dispatch
order (`CustomerDialogs`).
"""

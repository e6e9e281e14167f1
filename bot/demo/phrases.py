"""The words demo customers and staff write: names, questions, praise, complaints, answers.

Small pools on purpose: the sentiment of each distinct text is scored once by
the real analyser, so a large demo database costs a handful of scorings.
"""

from __future__ import annotations

FIRST = (
    "Ann Ben Chloe David Emma Felix Grace Hugo Iris Jack Kate Leo Mia Noah Olivia Peter "
    "Quinn Rosa Sam Tara Uma Victor Wendy Xavier Yara Zoe Ming Wing Ka Siu Mei Hoi Yan Chun "
    "Priya Arjun Fatima Omar Lucia Mateo Sofia Lukas Anna Jonas Elif Kenji Yuki Hana"
).split()

LAST = (
    "Smith Chan Wong Lee Cheung Lau Ng Ho Yip Brown Taylor Wilson Martin Garcia Müller "
    "Schmidt Rossi Dubois Silva Kim Park Tanaka Sato Khan Patel Singh Cohen Novak Jensen "
    "Larsen Costa Ortiz Fischer Weber Leung Tsang Kwok Fung"
).split()

QUESTIONS = (
    "Hi, is the blue jacket back in stock in size M?",
    "Do you deliver to Kowloon on Saturdays?",
    "Can I change the delivery address for my order?",
    "What are your opening hours over the holiday?",
    "Is there a discount for ordering ten or more?",
    "Could you send me the invoice for last month's order?",
    "How do I use my loyalty points?",
    "Do you have a gift wrapping option?",
)

PRAISE = (
    "Thank you so much, great service as always!",
    "The parcel arrived early and everything is perfect. Love it!",
    "Brilliant, thanks for the quick help 🙂",
    "Really happy with the quality, will order again.",
    "Thanks, that was very helpful.",
    "Excellent, exactly what I needed. Thank you!",
)

COMPLAINTS = (
    "My order arrived broken and nobody answered my email. Very disappointed.",
    "This is the second time the delivery is late. Terrible service.",
    "I was charged twice for the same order, please fix this now.",
    "The product stopped working after two days, awful quality.",
    "Still waiting for my refund after three weeks. Unacceptable.",
)

FOLLOW_UPS = (
    "OK, thanks for letting me know.",
    "Fine, I will wait for the replacement then.",
    "Thank you, that solves it.",
    "Got it, appreciate the update.",
)

REPLIES = (
    "Thanks for your message! We are looking into it and will get back to you today.",
    "Sorry about that, we have sent a replacement with express delivery.",
    "Yes, it is in stock: I have put one aside for you.",
    "You are welcome, have a lovely day!",
)

SURVEY_COMMENTS = {
    "good": ("Quick and friendly, thanks", "Always a pleasure", "Great products"),
    "bad": ("Delivery took too long", "Hard to reach anyone by phone", "Prices went up"),
}

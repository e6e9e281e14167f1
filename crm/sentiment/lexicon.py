"""The data behind Rapport's sentiment rules, kept apart from the code that applies them.

TextBlob's pattern lexicon (about 2,900 English adjectives and adverbs, scored
by hand for product and movie reviews) is the base. It misses how customers
write in chat and mail: it has no emoji, knows "refund" and "waiting" as
nothing, and scores "sure" or "large" as opinions. The tables here are what
Rapport adds or corrects; `rapport.crm.sentiment.pattern_rules` and
`rapport.crm.sentiment.vader` say how they are applied.

Values are (polarity, subjectivity): polarity −1.0 … +1.0 as in pattern,
subjectivity 0.0 … 1.0. The English word, phrase and emoji tables were
chosen on the *tuning* part of `benchmarks/data/customer_sentiment.csv`;
the constants added with VADER and the other languages say where they came
from (docs/sentiment.md).
"""

from __future__ import annotations

from typing import Final

Score = tuple[float, float]

# Words that turn the sentiment word after them around ("not happy", "never
# again"). Contractions are single tokens after tokenisation.
NEGATIONS: Final = frozenset(
    """not no never n't cannot can't don't doesn't didn't isn't wasn't aren't
    weren't won't wouldn't couldn't shouldn't haven't hasn't hadn't without
    hardly barely nor dont doesnt didnt isnt wasnt cant wont nothing none""".split()
)

# How far back (in tokens, inside one clause) a negation reaches: "not a very
# good" is still negated, "not sure, but the staff were great" is not.
NEGATION_SCOPE: Final = 3

# A negated word keeps this share of its polarity, sign flipped. Pattern uses
# 0.5 both ways ("not bad" = slightly good); for customers "not happy" is a
# plain complaint, so positive words flip harder than negative ones.
NEGATED_POSITIVE: Final = -0.9
NEGATED_NEGATIVE: Final = -0.5

# Multipliers for the next sentiment word ("really slow", "slightly late").
INTENSIFIERS: Final[dict[str, float]] = {
    "very": 1.3,
    "really": 1.3,
    "so": 1.3,
    "too": 1.2,
    "extremely": 1.5,
    "incredibly": 1.5,
    "absolutely": 1.4,
    "totally": 1.3,
    "completely": 1.3,
    "utterly": 1.5,
    "super": 1.3,
    "highly": 1.3,
    "truly": 1.3,
    "seriously": 1.3,
    "especially": 1.2,
    "most": 1.2,
    "such": 1.2,
    "honestly": 1.1,
    "slightly": 0.5,
    "somewhat": 0.6,
    "fairly": 0.8,
    "quite": 0.9,
    "pretty": 0.9,
    "rather": 0.8,
    "kinda": 0.7,
    "bit": 0.6,
    "little": 0.6,
    "barely": 0.5,
}

# Contrast: what follows "but" is what the customer means ("nice staff but the
# order was wrong"). Weight of assessments before and after the contrast word,
# which also ends a clause (as punctuation does): negation does not cross it.
CONTRAST_WORDS: Final = frozenset({"but", "however", "although", "though"})
BEFORE_CONTRAST: Final = 0.5
AFTER_CONTRAST: Final = 1.5

# A word in capitals inside mixed-case text is shouted; so is a whole message
# in capitals (then every assessment is boosted, a little less).
SHOUTED_WORD: Final = 1.5
SHOUTED_TEXT: Final = 1.3

# "!!" amplifies the clause it ends, one step per mark up to three.
EXCLAMATION_STEP: Final = 0.15
EXCLAMATION_MAX: Final = 3
# "??" (two or more) in a customer message is impatience ("Where is my order???").
REPEATED_QUESTION: Final[Score] = (-0.5, 0.6)

# Pattern lexicon words corrected for customer text: neutral in a shop
# ("large size", "sure, Friday works") or missing (verbs like "recommend").
WORDS: Final[dict[str, Score]] = {
    # neutral in customer service, opinionated in pattern's lexicon
    "sure": (0.0, 0.0),
    "large": (0.0, 0.0),
    "big": (0.0, 0.0),
    "small": (0.0, 0.0),
    "new": (0.0, 0.0),
    "old": (0.0, 0.0),
    "first": (0.0, 0.0),
    "second": (0.0, 0.0),
    "last": (0.0, 0.0),
    "next": (0.0, 0.0),
    "late": (-0.5, 0.6),
    "free": (0.3, 0.5),
    "open": (0.0, 0.0),
    "full": (0.0, 0.0),
    "long": (0.0, 0.0),
    "more": (0.0, 0.0),
    "other": (0.0, 0.0),
    "same": (0.0, 0.0),
    "only": (0.0, 0.0),
    "extra": (0.0, 0.0),
    "medium": (0.0, 0.0),
    "black": (0.0, 0.0),
    "white": (0.0, 0.0),
    "annual": (0.0, 0.0),
    "monthly": (0.0, 0.0),
    "available": (0.0, 0.0),
    "closest": (0.0, 0.0),
    "real": (0.0, 0.0),
    "possible": (0.0, 0.0),
    "due": (0.0, 0.0),
    "ok": (0.0, 0.0),
    "okay": (0.0, 0.0),
    "many": (0.0, 0.0),
    "right": (0.0, 0.0),
    "interested": (0.0, 0.0),
    "extended": (0.0, 0.0),
    # gratitude and praise
    "thank": (0.6, 0.5),
    "thanks": (0.6, 0.5),
    "thx": (0.6, 0.5),
    "ty": (0.5, 0.5),
    "cheers": (0.5, 0.5),
    "appreciate": (0.6, 0.6),
    "appreciated": (0.6, 0.6),
    "grateful": (0.7, 0.8),
    "recommend": (0.6, 0.6),
    "recommended": (0.6, 0.6),
    "helpful": (0.6, 0.6),
    "professional": (0.5, 0.5),
    "efficient": (0.5, 0.6),
    "smooth": (0.5, 0.5),
    "love": (0.7, 0.8),
    "loved": (0.7, 0.8),
    "loving": (0.6, 0.8),
    "pleased": (0.7, 0.8),
    "resolved": (0.4, 0.3),
    "fixed": (0.4, 0.3),
    "works": (0.3, 0.3),
    "tasty": (0.6, 0.8),
    "fresh": (0.4, 0.5),
    "attentive": (0.6, 0.7),
    "safely": (0.3, 0.3),
    "gorgeous": (0.8, 0.9),
    # complaint words
    "unhelpful": (-0.6, 0.7),
    "damaged": (-0.6, 0.5),
    "refund": (-0.1, 0.1),
    "ignored": (-0.6, 0.6),
    "ignoring": (-0.6, 0.6),
    "crashes": (-0.6, 0.5),
    "scam": (-0.9, 0.9),
    "joke": (-0.5, 0.7),
    "nightmare": (-0.8, 0.9),
    "upset": (-0.7, 0.8),
    "hopeless": (-0.8, 0.9),
    "unacceptable": (-0.8, 0.9),
    "letdown": (-0.7, 0.8),
    "disgrace": (-0.9, 0.9),
    "disgusting": (-0.9, 0.9),
    "expired": (-0.5, 0.4),
    "overcharged": (-0.7, 0.6),
    "overpriced": (-0.6, 0.7),
    "leaking": (-0.5, 0.4),
    "cracked": (-0.5, 0.4),
    "broke": (-0.5, 0.4),
    "missed": (-0.4, 0.4),
    "lost": (-0.5, 0.4),
    "declined": (-0.3, 0.3),
    "rejected": (-0.5, 0.5),
    "locked": (-0.3, 0.3),
    "cancelled": (-0.3, 0.3),
    "cancelling": (-0.4, 0.4),
    "complaint": (-0.4, 0.5),
    "problem": (-0.3, 0.4),
    "issue": (-0.2, 0.3),
    "chase": (-0.4, 0.5),
    "excuses": (-0.6, 0.7),
    "dismissive": (-0.7, 0.8),
    "frustrated": (-0.6, 0.8),
    "fed": (-0.3, 0.5),
    "mess": (-0.6, 0.7),
    "smells": (-0.4, 0.5),
    "wobbles": (-0.4, 0.4),
    "hate": (-0.8, 0.9),
    "nobody": (-0.4, 0.4),
    "zero": (-0.3, 0.3),
    "worse": (-0.6, 0.7),
    "chasing": (-0.4, 0.5),
}

# Phrases, matched on whole tokens before single words; the words inside a
# matched phrase are not scored again. Customer-service language that word
# lexicons miss ("still waiting", "no reply") or get backwards ("no
# problem", "can't fault").
PHRASES: Final[dict[str, Score]] = {
    "still waiting": (-0.6, 0.6),
    "still no": (-0.6, 0.6),
    "still not": (-0.5, 0.6),
    "still nothing": (-0.6, 0.6),
    "no reply": (-0.6, 0.6),
    "no response": (-0.6, 0.6),
    "no answer": (-0.6, 0.6),
    "no refund": (-0.7, 0.6),
    "no apology": (-0.6, 0.6),
    "no one": (-0.4, 0.4),
    "no sign": (-0.5, 0.5),
    "no help": (-0.6, 0.6),
    "never again": (-0.8, 0.9),
    "never arrived": (-0.7, 0.6),
    "never answered": (-0.6, 0.6),
    "never replied": (-0.6, 0.6),
    "never received": (-0.7, 0.6),
    "never arrives": (-0.6, 0.6),
    "waste of": (-0.8, 0.9),
    "fell apart": (-0.7, 0.7),
    "stopped working": (-0.6, 0.6),
    "not working": (-0.6, 0.6),
    "doesn't work": (-0.6, 0.6),
    "isn't working": (-0.6, 0.6),
    "won't work": (-0.6, 0.6),
    "cut off": (-0.4, 0.5),
    "gone downhill": (-0.7, 0.8),
    "had enough": (-0.7, 0.8),
    "sick of": (-0.7, 0.8),
    "fed up": (-0.7, 0.8),
    "losing patience": (-0.7, 0.8),
    "not worth": (-0.7, 0.8),
    "someone else's": (-0.4, 0.4),
    "charged twice": (-0.7, 0.6),
    "thank you": (0.6, 0.5),
    "thank you so much": (0.8, 0.6),
    "thanks so much": (0.8, 0.6),
    "much appreciated": (0.8, 0.6),
    "no problem": (0.3, 0.3),
    "no problems": (0.4, 0.3),
    "no fuss": (0.4, 0.4),
    "can't fault": (0.8, 0.8),
    "above and beyond": (0.8, 0.8),
    "spot on": (0.7, 0.7),
    "well done": (0.6, 0.7),
    "on time": (0.3, 0.3),
    "keep up the good work": (0.8, 0.8),
    "made my day": (0.8, 0.9),
    "a nice touch": (0.5, 0.6),
    "nice touch": (0.5, 0.6),
    "makes no sense": (-0.5, 0.6),
    "make no sense": (-0.5, 0.6),
}

# Emoji, keyed without variation selectors or skin tones.
EMOJI: Final[dict[str, Score]] = {
    "👍": (0.6, 0.8),
    "👌": (0.6, 0.8),
    "🙏": (0.5, 0.7),
    "👏": (0.6, 0.8),
    "🎉": (0.6, 0.8),
    "😀": (0.6, 0.9),
    "😃": (0.6, 0.9),
    "😄": (0.7, 0.9),
    "😁": (0.6, 0.9),
    "😊": (0.7, 0.9),
    "🙂": (0.4, 0.8),
    "😉": (0.3, 0.8),
    "😍": (0.9, 1.0),
    "🥰": (0.9, 1.0),
    "😘": (0.7, 0.9),
    "😋": (0.6, 0.9),
    "😎": (0.4, 0.8),
    "🤩": (0.9, 1.0),
    "😂": (0.3, 0.9),
    "🤣": (0.3, 0.9),
    "❤": (0.8, 1.0),
    "💕": (0.8, 1.0),
    "💯": (0.7, 0.9),
    "⭐": (0.5, 0.7),
    "🌟": (0.6, 0.8),
    "✅": (0.3, 0.4),
    "🔥": (0.4, 0.8),
    "👎": (-0.7, 0.8),
    "😡": (-0.9, 1.0),
    "🤬": (-1.0, 1.0),
    "😠": (-0.8, 1.0),
    "😤": (-0.6, 0.9),
    "😞": (-0.6, 0.9),
    "😔": (-0.5, 0.9),
    "😟": (-0.5, 0.9),
    "😢": (-0.6, 0.9),
    "😭": (-0.7, 0.9),
    "😩": (-0.6, 0.9),
    "😫": (-0.6, 0.9),
    "🙁": (-0.5, 0.8),
    "☹": (-0.6, 0.8),
    "😒": (-0.5, 0.8),
    "🙄": (-0.5, 0.8),
    "😑": (-0.3, 0.7),
    "😐": (-0.1, 0.5),
    "🤮": (-0.9, 1.0),
    "🤢": (-0.8, 1.0),
    "💩": (-0.8, 1.0),
    "💔": (-0.7, 0.9),
    "❌": (-0.4, 0.5),
}

# Text emoticons; matched as whole tokens (pattern knows some, not all, and
# only when they stand apart from words).
EMOTICONS: Final[dict[str, Score]] = {
    ":)": (0.5, 0.8),
    ":-)": (0.5, 0.8),
    ":))": (0.6, 0.8),
    "=)": (0.5, 0.8),
    ":]": (0.5, 0.8),
    ":D": (0.8, 0.9),
    ":-D": (0.8, 0.9),
    "xD": (0.6, 0.9),
    "XD": (0.6, 0.9),
    ";)": (0.3, 0.8),
    ";-)": (0.3, 0.8),
    ":P": (0.3, 0.8),
    ":p": (0.3, 0.8),
    "<3": (0.8, 1.0),
    ":(": (-0.6, 0.8),
    ":-(": (-0.6, 0.8),
    ":((": (-0.7, 0.8),
    "=(": (-0.6, 0.8),
    ":[": (-0.5, 0.8),
    ":'(": (-0.7, 0.9),
    ":/": (-0.3, 0.7),
    ":-/": (-0.3, 0.7),
    ":|": (-0.1, 0.5),
    ">:(": (-0.8, 1.0),
}

# VADER rates these as opinions; in a shop they are how a request is worded
# ("please help, yes the order from Monday"). Dropped from VADER's lexicon
# only; the documented reason the VADER fallback failed on the tune rows.
VADER_NEUTRAL: Final = frozenset({"please", "help", "yes", "want", "wants", "hope"})

# VADER words whose mean rating is this close to neutral are dropped: raters
# barely saw an opinion in them, and in a shop they are nouns ("number" +0.3).
VADER_WEAKEST: Final = 0.5

# "like" after these is a request, not liking: "I'd like to change my order".
REQUEST_BEFORE_LIKE: Final = frozenset({"would", "i'd", "we'd", "you'd", "d", "should"})

# Negative assessments weigh this much more in pattern's mean: reviewers use
# positive words in negative reviews far more than the reverse. Chosen on
# tune halves only: pattern's German / French / Dutch review corpora went
# from 65 / 72 / 78 % at 1.0 to 71 / 73 / 80 % at 2.0; on VADER's English
# data the combination's out-of-fold accuracy moved from 78.3 to 78.5 %.
NEGATIVE_WEIGHT: Final = 2.0

# German, French and Dutch: words of customer mail the pattern lexicons lack
# (thanks, "broken", "unfortunately"). Not chosen on any data: the obvious
# gaps, scored like their English counterparts in WORDS.
OTHER_WORDS: Final[dict[str, dict[str, Score]]] = {
    "de": {
        "danke": (0.6, 0.5),
        "dankeschön": (0.6, 0.5),
        "kaputt": (-0.6, 0.5),
        "leider": (-0.3, 0.5),
        "beschädigt": (-0.6, 0.5),
    },
    "fr": {
        "malheureusement": (-0.3, 0.5),
        "abîmé": (-0.6, 0.5),
    },
    "nl": {
        "bedankt": (0.6, 0.5),
        "helaas": (-0.3, 0.5),
        "jammer": (-0.4, 0.5),
        "beschadigd": (-0.6, 0.5),
    },
}

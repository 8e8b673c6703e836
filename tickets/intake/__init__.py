"""Intake (受理): which group messages are tickets, of what category, how urgent, where.

The classifier and everything it reads, in one package:

- :mod:`~tickets.intake.parser`: :class:`Parser`, the rules and the model decide together;
- :mod:`~tickets.intake.lexicon` and :mod:`~tickets.intake.patterns`: the cues it weighs;
- :mod:`~tickets.intake.hanzi` and :mod:`~tickets.intake.location`: normalisation, places;
- :mod:`~tickets.intake.model`: the trained scores, loaded from ``data/model.npz``;
- :mod:`~tickets.intake.evaluate`: the figures on a labelled set;
- ``data/``: the labelled messages (see its README) and the model built from them.

Importers use the names below; the modules are for tests and the model's build command.
"""

from __future__ import annotations

from tickets.intake.evaluate import (
    EvalReport,
    LabelledMessage,
    LabelledSetError,
    evaluate,
    evaluate_by_register,
    format_by_register,
    format_report,
    load_labelled,
)
from tickets.intake.lexicon import CATEGORY_CODES, DEFAULT_LEXICON, Lexicon, LexiconError
from tickets.intake.parser import (
    BATCH_LINES,
    DEFAULT_MODEL,
    Evidence,
    ParsedMessage,
    Parser,
    Urgency,
    default_parser,
    parse_message,
    parser_for,
)

__all__ = [
    "BATCH_LINES",
    "CATEGORY_CODES",
    "DEFAULT_LEXICON",
    "DEFAULT_MODEL",
    "EvalReport",
    "Evidence",
    "LabelledMessage",
    "LabelledSetError",
    "Lexicon",
    "LexiconError",
    "ParsedMessage",
    "Parser",
    "Urgency",
    "default_parser",
    "evaluate",
    "evaluate_by_register",
    "format_by_register",
    "format_report",
    "load_labelled",
    "parse_message",
    "parser_for",
]

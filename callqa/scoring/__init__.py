"""Scoring: pure functions from a transcript and a rulebook to findings and a score."""

from callqa.scoring.engine import Scorer, score_transcript
from callqa.scoring.rule import Rule
from callqa.scoring.rulebook import DEFAULT_RULEBOOK, Rulebook, load_rulebook, parse_rulebook

__all__ = ["DEFAULT_RULEBOOK", "Rule", "Rulebook", "Scorer", "load_rulebook", "parse_rulebook",
           "score_transcript"]

"""callqa: call-etiquette compliance scoring for Mandarin customer-service phone calls.

Data flows one way: audio → ``callqa.asr`` → ``callqa.transcript`` records →
``callqa.scoring`` (pure functions over transcripts) → ``callqa.result`` → ``callqa.report``.
"""

__version__ = "0.1.0"

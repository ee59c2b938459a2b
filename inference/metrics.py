"""Accuracy measures for OCR output, shared by the tests and bench/."""

from __future__ import annotations


def levenshtein(a: str, b: str) -> int:
    """Levenshtein edit distance (insertions, deletions, substitutions) between `a` and `b`; O(len(a)·len(b)) time."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def normalise(text: str) -> str:
    """Case-insensitive, with runs of white space folded."""
    return " ".join(text.lower().split())


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edit distance over the reference length, after normalise()."""
    ref = normalise(reference)
    return levenshtein(ref, normalise(hypothesis)) / max(len(ref), 1)

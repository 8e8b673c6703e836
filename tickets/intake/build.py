"""Build the intake model file from the labelled training data (``gridcast parse --build-model``).

Training needs scikit-learn and about two seconds; parsing does not: it loads the file
this writes (:data:`~tickets.intake.model.MODEL_FILE`). Rebuild after changing
``train.jsonl``, ``dev.jsonl``, the normalisation or the n-grams; a test fails while the
shipped file is not what a rebuild gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tickets.intake.model import MODEL_FILE, TRAINING_FILES, IntakeModel, read_training_files
from tickets.intake.parser import _normalised_body

__all__ = ["build_model_file", "train_model"]


def train_model(training_files: Sequence[Path] = TRAINING_FILES) -> IntakeModel:
    """A model trained on ``training_files``, read as the parser reads messages."""
    return IntakeModel.train(read_training_files(training_files, _normalised_body))


def build_model_file(
    path: Path = MODEL_FILE, *, training_files: Sequence[Path] = TRAINING_FILES
) -> int:
    """Train on ``training_files`` and write the model to ``path``; the file's size in bytes."""
    return train_model(training_files).save(path)

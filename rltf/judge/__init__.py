"""Fast, isolated, tamper-resistant execution of generated programs against unit tests."""

from .pool import Judge, JudgeConfig, Submission
from .result import OUTCOMES, JudgeResult, Outcome, ProgramError, TestVerdict

__all__ = ["Judge", "JudgeConfig", "Submission", "JudgeResult", "ProgramError", "TestVerdict", "Outcome", "OUTCOMES"]

"""Reference solutions, one module per lesson: ``Config`` and ``run(config) -> Report``."""

from practicaltorch.recipes.base import Bar, Report

__all__ = ["Bar", "Report"]

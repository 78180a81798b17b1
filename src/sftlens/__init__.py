"""sftlens: measure and control what supervised fine-tuning does to a model's knowledge.

Stages (one sub-package each): world, data, probing, selection, finetuning,
evaluation, analysis, restoration, study, reporting.  Run ``sftlens --help``.
"""

__version__ = "0.1.0"

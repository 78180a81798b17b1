"""sftlens: measure and control what supervised fine-tuning does to a model's knowledge.

Stages (one sub-package each): world, data, probing, selection, finetuning,
evaluation, analysis, restoration, study, reporting.  Run ``sftlens --help``.

Example::

    import sftlens
    sftlens.__version__       # '0.1.0'
    # the whole study from Python: sftlens.study.stage.run(config, run_dir)
"""

__version__ = "0.1.0"

"""LoRA training from image + caption folders, behind a ``TrainingEngine`` interface.

``preflight(folder, trigger, resolution)`` checks a dataset before any model loads; ``TrainingConfig``
holds the settings (per-family defaults, saved as ``training_config.json``); ``TrainingJob`` says what to
train and where; an engine (``choose_engine``: in-process PyTorch/PEFT, kohya sd-scripts, mflux) runs it
and returns a ``TrainingResult``.
"""

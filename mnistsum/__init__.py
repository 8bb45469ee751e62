"""mnistsum: the sum of two stacked MNIST digits, as an experiment-tracked DVC + MLflow + Optuna pipeline.

From the bottom up: errors, files, figures, metrics and params; data (MNIST, pairs); models (the families and
the served model's code); tracking (MLflow); training; search (Optuna); stages, one per DVC stage; cli. No
module imports a stage, and there is no import cycle (tests/test_dvc_deps.py walks the imports)."""

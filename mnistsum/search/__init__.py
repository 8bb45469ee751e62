"""Hyperparameter search: where Optuna studies live and how workers share them (`storage`), the report's
search spaces (`spaces`) and the study runner (`study`)."""

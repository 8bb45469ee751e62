"""mnistsum: the sum of two stacked MNIST digits, as an experiment-tracked DVC + MLflow + Optuna pipeline.

Layers, lowest first (an import only ever points down): errors, files, figures, metrics, params; data; models;
training; tracking; search; stages; cli."""

"""DVC stage `logreg`: the report's logistic regression grids, every point an MLflow run."""

from mnistsum.stages import command, logreg

if __name__ == "__main__":
    command.main(logreg)

"""DVC stage `svm`: the report's SVM grid, every point an MLflow run."""

from mnistsum.stages import command, svm

if __name__ == "__main__":
    command.main(svm)

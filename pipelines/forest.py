"""DVC stage `forest`: the report's random forest depth sweep and tuning, every point an MLflow run."""

from mnistsum.stages import command, forest

if __name__ == "__main__":
    command.main(forest)

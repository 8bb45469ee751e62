"""DVC stage `report`: the study report regenerated from the stages' MLflow runs, found by the run ids their
summary files record (STAGE=FILE for each), and the headline DVC compares (one file per model, from the stages'
metrics files)."""

from mnistsum.stages import command, report

if __name__ == "__main__":
    command.main(report)

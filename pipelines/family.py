"""DVC stages of one family each (`cnn`, `sumnet`, ...): the network of the params section named like the stage,
trained on the given pairs with early stopping on validation, evaluated, saved and registered (under its own
name and the cross-family `mnistsum`)."""

from mnistsum.stages import command, family

if __name__ == "__main__":
    command.main(family, stages=True)

"""DVC stage `compare`: combined vs sequential logistic regression across training-set sizes, beside the sumnet's
points from the learning curve."""

from mnistsum.stages import command, compare

if __name__ == "__main__":
    command.main(compare)

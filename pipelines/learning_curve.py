"""DVC stage `learning_curve`: every family in every regime at a few training sizes and at all pairs."""

from mnistsum.stages import command, learning_curve

if __name__ == "__main__":
    command.main(learning_curve)

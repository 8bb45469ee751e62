"""DVC stage `prepare`: build the two-digit pairs from offline MNIST and draw the exploration figures."""

from mnistsum.stages import command, prepare

if __name__ == "__main__":
    command.main(prepare)

"""DVC stage `base_mlp`: the report's base network (1 hidden layer of 50 relu units, 20 epochs)."""

from mnistsum.stages import base_mlp, command

if __name__ == "__main__":
    command.main(base_mlp)

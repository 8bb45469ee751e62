"""DVC stage `activation`: the best study1 network with each activation (a plain loop, as in the report)."""

from mnistsum.stages import activation, command

if __name__ == "__main__":
    command.main(activation)

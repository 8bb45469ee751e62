"""DVC stage `final`: the studies' best network with batch norm and early stopping; saved and registered."""

from mnistsum.stages import command, final

if __name__ == "__main__":
    command.main(final)

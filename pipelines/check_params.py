"""DVC stage `check_params`: validate the whole params.yaml on any change to it, before any other stage.

Every stage depends on only its own sections, so without this a misspelled top-level section (`studdy1:`)
would go unnoticed while the stages are up to date. The out is a constant marker, so a valid change to one
section re-runs only the stages that read that section."""

from mnistsum.stages import check_params, command

if __name__ == "__main__":
    command.main(check_params)

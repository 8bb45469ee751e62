"""DVC stage `forest`: the report's random forest depth sweep and tuning, every point an MLflow run."""

from mnistsum.errors import exits_cleanly
from mnistsum.params import load_params
from mnistsum.stages import forest, grid


@exits_cleanly
def main() -> None:
    args = grid.parser(__doc__).parse_args()
    forest.run(load_params(args.params), grid.paths_from(args))


if __name__ == "__main__":
    main()

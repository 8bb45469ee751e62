"""DVC stage `logreg`: the report's logistic regression grids, every point an MLflow run."""

from mnistsum.errors import exits_cleanly
from mnistsum.params import load_params
from mnistsum.stages import grid, logreg


@exits_cleanly
def main() -> None:
    args = grid.parser(__doc__).parse_args()
    logreg.run(load_params(args.params), grid.paths_from(args))


if __name__ == "__main__":
    main()

"""DVC stage `tsne`: t-SNE maps of raw input vs the final network's embedding, with a perplexity sweep, and
of the sumnet's digit embedding."""

import argparse
from pathlib import Path

from mnistsum.errors import exits_cleanly
from mnistsum.params import load_params
from mnistsum.stages import tsne


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True, help="folder with train/val/test .npz")
    parser.add_argument("--model", type=Path, required=True, help="the final Keras model")
    parser.add_argument("--sumnet", type=Path, help="the sumnet's Keras model: adds a map of its digit embedding")
    parser.add_argument("--plots", type=Path, required=True, help="folder for the maps")
    parser.add_argument("--metrics", type=Path, required=True, help="headline metrics JSON")
    parser.add_argument("--summary", type=Path, required=True, help="every map's scores (JSON)")
    args = parser.parse_args()
    tsne.run(
        load_params(args.params), tsne.Paths(args.data, args.model, args.sumnet, args.plots, args.metrics, args.summary)
    )


if __name__ == "__main__":
    main()

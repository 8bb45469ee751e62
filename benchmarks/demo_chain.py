"""The demo's whole chain against the model fed directly: MNIST test pairs rendered as the page's canvases deliver
a drawing (each digit scaled up 10x, black ink on a transparent canvas), sent through the demo's preprocessing
(mnistsum.demo.to_mnist) and the pulled model, against the same pairs' 56x28 pixels fed to the model as they are.

  .venv/bin/python benchmarks/demo_chain.py --model models:/mnistsum@champion --pairs 200
"""

import argparse

import numpy as np

from mnistsum import demo
from mnistsum.data.pairs import load_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models:/mnistsum@champion")
    parser.add_argument("--data", default="data/pairs", help="the pipeline's pairs (test.npz is used)")
    parser.add_argument("--pairs", type=int, default=200, help="the first n test pairs")
    args = parser.parse_args()
    test = load_split(args.data, "test").head(args.pairs)
    reader = demo.Reader(args.model)
    top, bottom = test.digits()
    chained = np.stack(
        [
            np.concatenate([demo.to_mnist(demo.as_canvas(t)), demo.to_mnist(demo.as_canvas(b))])
            for t, b in zip(top, bottom)
        ]
    )
    direct = reader.model.predict_proba(test.x).argmax(1)
    through = reader.model.predict_proba(chained).argmax(1)
    y = test.y.astype(int)
    print(f"{reader.version}, {len(test)} test pairs of {args.data}:")
    print(f"  fed directly (56x28 pixels)            sum accuracy {np.mean(direct == y):.4f}")
    print(f"  through the canvas chain (to_mnist)    sum accuracy {np.mean(through == y):.4f}")
    print(f"  same answer both ways                  {np.mean(direct == through):.4f}")


if __name__ == "__main__":
    main()

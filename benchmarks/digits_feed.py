"""What feeding the `digits` regime costs: one family's training steps fed four ways, each in its own process
(run the script once per way), median milliseconds per step after the first 10.

  numpy      model.fit on arrays (how the `sums` regime trains)
  fresh      model.fit on training.FreshPairs.dataset (how the `digits` regime trains: fresh pairs gathered
             inside tf.data)
  generator  the same arrays' batches through tf.data.Dataset.from_generator (how Keras fed a PyDataset, the
             way `digits` trained before 025b3a4)
  sliced     the same batches through tf.data.Dataset.from_tensor_slices

  for w in numpy fresh generator sliced; do .venv/bin/python benchmarks/digits_feed.py $w --family sumnet; done
"""

import argparse
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from mnistsum import models
from mnistsum.data.splits import load_data
from mnistsum.params import load_params
from mnistsum.training import FreshPairs, seed_everything


class StepTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        self.t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self.t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("way", choices=["numpy", "fresh", "generator", "sliced"])
    parser.add_argument("--family", choices=["cnn", "sumnet"], default="sumnet")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, default=Path("data/pairs"))
    parser.add_argument("--steps", type=int, default=120)
    args = parser.parse_args()
    params = load_params(args.params)
    batch, seed = params.base.batch_size, params.base.seed
    spec = getattr(params, args.family).model
    seed_everything(seed)  # as every stage trains
    train = load_data(args.data, 1.0, seed).pairs["train"].head(args.steps * batch)
    x, y = train.x, train.y.astype(np.int64)
    model = models.build(spec)
    times = StepTimes()
    if args.way == "numpy":
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, callbacks=[times], shuffle=True)
    elif args.way == "fresh":
        fresh = FreshPairs(train, batch, seed)
        model.fit(fresh.dataset(1), steps_per_epoch=len(fresh), epochs=1, verbose=0, callbacks=[times], shuffle=False)
    else:
        if args.way == "generator":
            signature = (tf.TensorSpec((None, *x.shape[1:]), tf.uint8), tf.TensorSpec((None,), tf.int64))
            ds = tf.data.Dataset.from_generator(
                lambda: ((x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch)),
                output_signature=signature,
            )
        else:
            ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)
        model.fit(ds.prefetch(2), epochs=1, verbose=0, callbacks=[times])
    steps = np.array(times.seconds[10:])
    print(
        f"{args.family} fed by {args.way}: median {np.median(steps) * 1000:.0f} ms per step of {batch} pairs "
        f"({len(steps)} steps after the first 10)",
        flush=True,
    )


if __name__ == "__main__":
    main()

"""Does an elastic distortion of each training digit make the sumnet read digits better? One protocol seed
(benchmarks/mnist_addition.py's split and the sumnet as params.yaml trains it), with one change: before the
recipe's shift and rotation, every training digit is warped by its own smooth random displacement field (a
--grid x --grid lattice of displacements, normal with --magnitude pixels' standard deviation, resized bicubically
to 28x28, then sampled bilinearly, black outside). Simard et al. (2003) found such distortions worth more than
affine ones on MNIST. Keras's RandomElasticTransform is not used: it draws the x and y fields from one seed (so
every displacement is diagonal) and builds one sampling op per image of a fixed batch.

The layer is put in front of the library's trunk by this probe alone; the library is unchanged until it gains.

  .venv/bin/python benchmarks/sumnet_elastic.py --seed 0 --magnitude 1.5 --out /tmp/elastic_0.json
"""

from __future__ import annotations

import argparse
import time

import keras
import tensorflow as tf
from sumnet_readout import one_seed_inputs, scored, train_one_seed

from mnistsum import files
from mnistsum.models import parts, sumnet


class ElasticWarp(keras.layers.Layer):
    """(n, 28, 28, 1) digits, each warped by its own smooth random field while training; unchanged otherwise."""

    def __init__(self, magnitude: float, grid: int, **kwargs):
        super().__init__(**kwargs)
        self.magnitude, self.grid = magnitude, grid
        self.seeds = keras.random.SeedGenerator()

    def call(self, x, training=None):
        if not training:
            return x
        n, h, w = tf.shape(x)[0], x.shape[1], x.shape[2]
        lattice = keras.random.normal((n, self.grid, self.grid, 2), stddev=self.magnitude, seed=self.seeds)
        field = tf.image.resize(lattice, (h, w), method="bicubic")
        rows, cols = tf.meshgrid(tf.range(h, dtype=x.dtype), tf.range(w, dtype=x.dtype), indexing="ij")
        sy, sx = rows[None] + field[..., 0], cols[None] + field[..., 1]
        y0, x0 = tf.floor(sy), tf.floor(sx)
        wy, wx = sy - y0, sx - x0
        image = x[..., 0]
        batch = tf.broadcast_to(tf.range(n)[:, None, None], tf.shape(sy))

        def at(yi, xi):
            inside = (yi >= 0) & (yi <= h - 1) & (xi >= 0) & (xi <= w - 1)
            yi = tf.cast(tf.clip_by_value(yi, 0, h - 1), tf.int32)
            xi = tf.cast(tf.clip_by_value(xi, 0, w - 1), tf.int32)
            return tf.gather_nd(image, tf.stack([batch, yi, xi], -1)) * tf.cast(inside, x.dtype)

        warped = (
            (1 - wy) * (1 - wx) * at(y0, x0)
            + (1 - wy) * wx * at(y0, x0 + 1)
            + wy * (1 - wx) * at(y0 + 1, x0)
            + wy * wx * at(y0 + 1, x0 + 1)
        )
        return warped[..., None]


def main() -> None:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--magnitude", type=float, default=1.5, help="the lattice displacements' std, in pixels")
        parser.add_argument("--grid", type=int, default=4, help="lattice points a side")

    args, params, pairs = one_seed_inputs(__doc__, add_arguments)
    trunk = parts.conv_trunk

    def warped_trunk(h, spec, prefix=""):
        return trunk(ElasticWarp(args.magnitude, args.grid, name=f"{prefix}elastic")(h), spec, prefix)

    sumnet.conv_trunk = warped_trunk  # the probe's one change, in front of the library's trunk
    t0 = time.perf_counter()
    result = train_one_seed(params, pairs, args.seed)
    minutes = (time.perf_counter() - t0) / 60
    encoder = result.model.get_layer(sumnet.ENCODER)
    row = scored(
        dict(magnitude=args.magnitude, grid=args.grid, epochs_run=result.epochs_run, minutes=minutes), encoder, pairs
    )
    print(
        f"seed {args.seed} elastic {args.magnitude} px, grid {args.grid}: val sum {row['val_sum']:.4f} digits "
        f"{row['val_digit']:.4f} | test sum {row['test_sum']:.4f} digits {row['test_digit']:.4f} | {minutes:.1f} min"
    )
    if args.out:
        files.write_json(args.out, {"seed": args.seed, **row})


if __name__ == "__main__":
    main()

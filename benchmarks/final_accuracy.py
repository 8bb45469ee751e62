"""Test accuracy of the final-stage procedure (batch norm, early stopping on val accuracy, patience 7,
at most 50 epochs, best weights restored) for a given network, on the prepared pairs.

Answers "what does it take to reach the report's 0.93?" without re-running the studies, and what training on
fresh combinations of the training digits each epoch (the digits regime) is worth against the fixed pairs.
Run: .venv/bin/python benchmarks/final_accuracy.py --data data/pairs [--config models/study4.json] [--fixed]
"""

import argparse
import time
from pathlib import Path

from mnistsum.data.splits import load_data
from mnistsum.models import read_spec
from mnistsum.models.specs import MlpSpec
from mnistsum.training import train, training_arrays

# The report's final network (sections 3.2-3.3).
REPORT = MlpSpec(units=(253, 219, 112, 198, 215), activation="relu", dropout=0.0856, learning_rate=0.00099)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data/pairs"))
    parser.add_argument("--config", type=Path, help="a best.json written by a study stage (default: the report's net)")
    parser.add_argument("--max-epochs", type=int, default=50)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--fixed", action="store_true", help="train on the fixed pairs file, as the report did")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    cfg = (read_spec(args.config) if args.config else REPORT).replace(batch_norm=True)
    regime = "sums" if args.fixed else "digits"
    data = training_arrays(load_data(args.data, 1.0, args.seed).pairs, regime)
    t0 = time.perf_counter()
    r = train(cfg, data, args.max_epochs, 128, args.seed, label="bench", patience=args.patience, regime=regime)
    print(
        f"{cfg} {regime} regime: val {r.val_accuracy:.4f} test {r.test_accuracy:.4f} "
        f"after {r.epochs_run} epochs ({time.perf_counter() - t0:.0f}s)"
    )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch reference for bench/fashion_epoch.sh: times training epochs of the same Fashion-MNIST model
mpitrain trains from launch/configs/fashion_MODEL.yaml on one thread (--model mlp: 784-256-256-10 relu;
cnn: conv 32 3x3, batch norm, relu, max pool 2, conv 64 3x3, batch norm, relu, max pool 2, dense 128 relu,
dropout 0.3, dense 10; lstm: LSTM 128 over 28 rows of 28 pixels, dense 10; all softmax cross-entropy
with Adam 1e-3, no augmentation), and prints each epoch's samples/s.

Each run trains one freshly initialised model for --epochs epochs (default 2) in this process and
reports every epoch; the last one is the measurement, at steady state: its first epoch runs slower
(allocator, caches and code paths still warming up), so it is only reported, as mpitrain's first
epoch is by bench/fashion_epoch.sh. Only the training loop is timed (batch gather, forward, backward,
optimizer step over all 60000 training samples, the last batch partial), as mpitrain's samples_per_sec
counts training time only. Data comes from datasets/fashion-mnist.h5 through h5py when both exist, else
from the IDX files. The data loading and the model definitions (build) are shared with bench/torch_ddp.py.

Output, one line per run and batch size (read by bench/fashion_epoch.sh), the epochs' samples/s in order:
    torch batch B threads T run R epochs E samples_per_sec S1,S2,...
and on stderr, per batch size, the median of the last epoch over the runs.
"""
import argparse
import gzip
import os
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn


def load_idx(images, labels):
    """Reads an IDX image file and its label file (gzip'd) into uint8 arrays."""
    with gzip.open(images, "rb") as f:
        raw = f.read()
    n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    x = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    with gzip.open(labels, "rb") as f:
        raw = f.read()
    y = np.frombuffer(raw, dtype=np.uint8, offset=8)
    return x, y


def load_train(h5_path, idx_dir):
    """Training split as (float32 [N, 28, 28] in [0, 1], int64 [N]) tensors, and where it came from."""
    x, y, src = load_train_raw(h5_path, idx_dir)
    return to_float(x), y, src


def to_float(x):
    """Images as float32 in [0, 1]: uint8 pixels are divided by 255 (as mpitrain reads them), floats kept."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def load_train_raw(h5_path, idx_dir):
    """Training split as (images [N, 28, 28] as stored: uint8 pixels or float32, labels int64 [N]) tensors, and
    where it came from (also used by bench/torch_ddp.py, whose ranks convert only the rows they train on)."""
    try:
        import h5py  # optional
    except ImportError:
        h5py = None
    if h5py is not None and os.path.exists(h5_path):
        with h5py.File(h5_path, "r") as f:
            x, y, src = f["train/x"][...], f["train/y"][...], h5_path + " (h5py)"
    else:
        x, y = load_idx(os.path.join(idx_dir, "train-images-idx3-ubyte.gz"),
                        os.path.join(idx_dir, "train-labels-idx1-ubyte.gz"))
        src = idx_dir + " (IDX files)"
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64)), src


class LastStep(nn.Module):
    """LSTM over the rows of the image, keeping the last hidden state (return_sequences: false)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 128, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[0][:, -1, :]


def build(name):
    """The model of launch/configs/fashion_NAME.yaml, with logits out (the loss applies the softmax)."""
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                             nn.Linear(256, 10))
    if name == "cnn":
        return nn.Sequential(nn.Unflatten(1, (1, 28)), nn.Conv2d(1, 32, 3, padding="same"), nn.BatchNorm2d(32),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding="same"), nn.BatchNorm2d(64),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(),
                             nn.Dropout(0.3), nn.Linear(128, 10))
    return nn.Sequential(LastStep(), nn.Linear(128, 10))


def train_epochs(x, y, batch, seed, name, epochs):
    """Trains a freshly initialised model for EPOCHS epochs; returns each epoch's samples/s of the training loop."""
    torch.manual_seed(seed)
    model = build(name)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()  # log-softmax + NLL: the softmax output with categorical cross-entropy
    gen = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    rates = []
    for _ in range(epochs):
        start = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            xb, yb = x[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        rates.append(n / (time.perf_counter() - start))
    return rates


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=["mlp", "cnn", "lstm"], default="mlp", help="which example model")
    ap.add_argument("--batch", type=int, nargs="+", default=[128, 32], help="batch sizes to time")
    ap.add_argument("--runs", type=int, default=1, help="runs (fresh models) per batch size")
    ap.add_argument("--epochs", type=int, default=2, help="epochs per run; the last one is the measurement")
    ap.add_argument("--seed", type=int, default=1, help="seed of the first run (run r uses seed + r - 1)")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--data", default=os.path.join(root, "datasets", "fashion-mnist.h5"))
    ap.add_argument("--idx-dir", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    x, y, src = load_train(args.data, args.idx_dir)
    print(f"# torch {torch.__version__}, {args.threads} thread(s), data {src}: {x.shape[0]} samples",
          file=sys.stderr)
    if args.runs < 1 or args.epochs < 1:
        ap.error("--runs and --epochs must be at least 1")
    for batch in args.batch:
        last = []
        for r in range(args.runs):
            rates = train_epochs(x, y, batch, args.seed + r, args.model, args.epochs)
            last.append(rates[-1])
            print(f"torch batch {batch} threads {args.threads} run {r + 1} epochs {args.epochs} "
                  f"samples_per_sec {','.join(f'{v:.1f}' for v in rates)}", flush=True)
        print(f"# batch {batch}: epoch {args.epochs}, median of {args.runs} run(s): {statistics.median(last):.1f} "
              f"samples/s", file=sys.stderr)

if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch DDP reference for bench/scaling: the Fashion-MNIST models of bench/torch_fashion.py (mlp, cnn) trained
data-parallel by torch.nn.parallel.DistributedDataParallel over gloo on CPU, one thread per process, for
strong scaling (fixed global batch) and weak scaling (fixed batch per rank) at the given numbers of
processes, and the samples/s of each, as bench/scaling measures mpitrain.

Each process count is one torch.multiprocessing.spawn of NP processes (init_method file:// in a temporary
directory). In it, for every model, mode and repeat, a freshly seeded model is wrapped in DDP (default
buckets, broadcast_buffers on), trained for WARMUP untimed steps (bench/scaling passes as many as mpitrain's
warm-up epochs take, at least 5, so that both are timed at steady state: a process's first steps run
slower), then timed over STEPS optimizer steps between two barriers: samples/s = STEPS x global batch / seconds. Every step all processes take their contiguous share
of the same global batch of one seeded permutation of the training split (as mpitrain shards), converted
from uint8 to float in the timed loop (mpitrain's data time). Adam 1e-3, cross-entropy on logits.
The CNN's batch norm keeps per-process statistics: torch 1.13's SyncBatchNorm runs on GPUs only, so DDP here
does a little less communication per step than mpitrain's sync batch norm.

Output (stdout), CSV without header, one line per measurement (np 1 weak is np 1 strong when the batches
agree, and is printed for both):
    torch_ddp,MODEL,MODE,NP,GLOBAL_BATCH,REPEAT,SAMPLES_PER_SEC,STEPS
"""
import argparse
import os
import sys
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_fashion import build, load_train_raw, to_float  # noqa: E402  (the shared model code)


def batches(args, world):
    """(mode, global batch) pairs measured at this process count."""
    out = [("strong", args.strong_batch)]
    if not (world == 1 and args.weak_batch == args.strong_batch):
        out.append(("weak", args.weak_batch * world))
    return out


def train_rate(name, x, y, rank, world, global_batch, steps, warmup, seed):
    """Trains a fresh DDP model WARMUP + STEPS steps; returns the timed steps' samples/s (same on all ranks)."""
    torch.manual_seed(seed)
    model = DistributedDataParallel(build(name))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    n = x.shape[0]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    lo, hi = rank * global_batch // world, (rank + 1) * global_batch // world
    mine = torch.arange(lo, hi)

    def step(s):
        idx = perm[(s * global_batch + mine) % n]
        xb, yb = to_float(x[idx]), y[idx]
        opt.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        opt.step()

    model.train()
    for s in range(warmup):
        step(s)
    dist.barrier()
    start = time.perf_counter()
    for s in range(warmup, warmup + steps):
        step(s)
    dist.barrier()
    elapsed = torch.tensor([time.perf_counter() - start], dtype=torch.float64)
    dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
    return steps * global_batch / elapsed.item()


def worker(rank, world, args, init_file, result_file):
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    dist.init_process_group("gloo", init_method="file://" + init_file, rank=rank, world_size=world)
    x, y, _ = load_train_raw(args.data, args.idx_dir)
    lines = []
    for rep in range(args.repeats):
        for name in args.models:
            steps = args.steps[name]
            for mode, gb in batches(args, world):
                if gb % world:
                    raise SystemExit(f"torch_ddp: global batch {gb} does not split evenly over {world} processes")
                rate = train_rate(name, x, y, rank, world, gb, steps, args.warmup[name], 1 + rep)
                shared = world == 1 and args.weak_batch == args.strong_batch  # np 1: one run, both modes
                for m in (["strong", "weak"] if shared else [mode]):
                    lines.append(f"torch_ddp,{name},{m},{world},{gb},{rep + 1},{rate:.1f},{steps}")
    if rank == 0:
        with open(result_file, "w") as f:
            f.write("\n".join(lines) + "\n")
    dist.barrier()
    dist.destroy_process_group()


def parse_steps(text):
    """'mlp=200,cnn=20' -> {'mlp': 200, 'cnn': 20}; a bare number applies to every model (--steps, --warmup)."""
    if text.isdigit():
        return {"mlp": int(text), "cnn": int(text)}
    out = {}
    for part in text.split(","):
        key, _, val = part.partition("=")
        out[key.strip()] = int(val)
    return out


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--np", type=int, nargs="+", default=[1, 2], help="process counts")
    ap.add_argument("--models", nargs="+", choices=["mlp", "cnn"], default=["mlp", "cnn"])
    ap.add_argument("--strong-batch", type=int, default=128, help="global batch of strong scaling")
    ap.add_argument("--weak-batch", type=int, default=128, help="batch per process of weak scaling")
    ap.add_argument("--steps", type=parse_steps, default=parse_steps("mlp=200,cnn=20"),
                    help="timed steps per model, e.g. mlp=200,cnn=20")
    ap.add_argument("--warmup", type=parse_steps, default=parse_steps("200"),
                    help="untimed steps before each measurement, per model (mlp=200,cnn=20) or one number for all")
    ap.add_argument("--repeats", type=int, default=3, help="measurements per configuration")
    ap.add_argument("--data", default=os.path.join(root, "datasets", "fashion-mnist.h5"))
    ap.add_argument("--idx-dir", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()
    for name in args.models:
        if name not in args.steps:
            ap.error(f"--steps gives no step count for {name}")
        if name not in args.warmup:
            ap.error(f"--warmup gives no step count for {name}")

    # Children inherit the environment: one OpenMP / MKL thread each, before they import torch.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    print(f"# torch {torch.__version__}, gloo, 1 thread per process, DistributedDataParallel defaults "
          f"(bucket_cap_mb 25, broadcast_buffers)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="torch-ddp-") as tmp:
        for world in args.np:
            init_file = os.path.join(tmp, f"init-{world}")
            result_file = os.path.join(tmp, f"result-{world}.csv")
            start = time.perf_counter()
            mp.spawn(worker, args=(world, args, init_file, result_file), nprocs=world, join=True)
            with open(result_file) as f:
                sys.stdout.write(f.read())
            sys.stdout.flush()
            print(f"# np {world}: {time.perf_counter() - start:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()

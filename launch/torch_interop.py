#!/usr/bin/env python3
"""PyTorch interop for mpitrain checkpoints: builds the torch.nn model that computes what the checkpoint's
model computes, loads its weights and the stored preprocessing, and evaluates it on a split of an mpitrain
HDF5 dataset, so that a torch user gets the same predictions (docs/formats.md has the file layouts).

    python3 launch/torch_interop.py CHECKPOINT.h5 [--data FILE.h5] [--split NAME] [--compare]
                                    [--mpitrain PATH] [--export MODEL.pt] [--state-dict WEIGHTS.pt]

--compare also runs `mpitrain eval CHECKPOINT --data FILE --split NAME --json ...` and checks that both count
the same correct predictions (a difference of one sample is allowed for float rounding) and the same loss.
--export writes the model, preprocessing included, as TorchScript (torch.jit.load reads it without this
script); --state-dict writes its state_dict. --net NAME builds one network of a GAN checkpoint (export only).

Layers come from the checkpoint's own description (the `layers` attribute of /params, options resolved) or,
in checkpoints written before it existed, from the /config YAML with mpitrain's defaults. A layer type without
a torch equivalent is an error naming it.

Exit status: 0 success (and agreement with --compare), 1 the two disagree or mpitrain eval failed, 2 usage or
input errors (unreadable file, unsupported layer).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from collections import OrderedDict


class InteropError(Exception):
    """An input or usage problem: one line for stderr, exit status 2."""


try:
    import h5py
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - depends on the machine
    sys.stderr.write("torch_interop.py: %s (install python3-torch and python3-h5py)\n" % e)
    sys.exit(2)


# ---- layer descriptions ---------------------------------------------------------------------------

# Option defaults of each layer type (as the option tables in src/nn/*.c), for checkpoints whose /params
# carries no `layers` description.
DEFAULTS = {
    "dense": {"activation": "linear", "use_bias": True},
    "conv2d": {"strides": [1], "padding": "valid", "activation": "linear", "use_bias": True},
    "conv2d_transpose": {"strides": [1], "padding": "valid", "output_padding": [0], "activation": "linear",
                         "use_bias": True},
    "max_pool2d": {"pool_size": [2], "strides": [], "padding": "valid"},
    "min_pool2d": {"pool_size": [2], "strides": [], "padding": "valid"},
    "avg_pool2d": {"pool_size": [2], "strides": [], "padding": "valid"},
    "batch_norm": {"momentum": 0.1, "epsilon": 1e-5, "sync": False},
    "leaky_relu": {"alpha": 0.01},
    "step": {"threshold": 0.0},
    "activation": {"alpha": None, "threshold": None},
    "prelu": {"init": 0.25},
    "upsample2d": {"size": [2]},
    "rnn": {"return_sequences": False},
    "lstm": {"return_sequences": False},
    "gru": {"return_sequences": False},
}

# Activation aliases mpitrain accepts, to their canonical names (src/nn/activation.c).
ACTIVATION_ALIASES = {
    "identity": "linear", "none": "linear", "ReLU": "relu", "logistic": "sigmoid", "Sigmoid": "sigmoid",
    "Tanh": "tanh", "Softmax": "softmax", "leakyrelu": "leaky_relu", "lrelu": "leaky_relu",
    "LeakyReLU": "leaky_relu", "GELU": "gelu", "binary_step": "step", "heaviside": "step",
}

LEAKY_RELU_ALPHA = 0.01  # mpitrain's default slope (MT_LEAKY_RELU_ALPHA)


def canonical_activation(name):
    return ACTIVATION_ALIASES.get(name, name)


def pair(v, what):
    """k or [h, w] as (h, w)."""
    if isinstance(v, (int, float)):
        return int(v), int(v)
    v = [int(x) for x in v]
    if len(v) == 1:
        return v[0], v[0]
    if len(v) == 2:
        return v[0], v[1]
    raise InteropError("%s: expected one number or [height, width], got %r" % (what, v))


def layers_from_config(cfg_model, where):
    """[(type, options)] from the config's model.layers (each item `name` or `name: {options}`)."""
    out = []
    for i, item in enumerate(cfg_model.get("layers") or []):
        if isinstance(item, str):
            kind, opts = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            kind, opts = next(iter(item.items()))
            opts = dict(opts or {})
        else:
            raise InteropError("%s: /config: model.layers[%d] is not a layer" % (where, i))
        merged = dict(DEFAULTS.get(kind, {}))
        merged.update(opts)
        out.append((kind, merged))
    return out


def read_text(obj):
    if isinstance(obj, bytes):
        return obj.decode("utf-8")
    if isinstance(obj, np.ndarray):
        return read_text(obj[()] if obj.shape == () else obj[0])
    return str(obj)


def parse_yaml(text, where):
    try:
        import yaml
    except ImportError:
        raise InteropError("%s: reading /config needs PyYAML (apt-get install python3-yaml)" % where)
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise InteropError("%s: /config: %s" % (where, str(e).replace("\n", " ")))


class Network:
    """What the file says about one network: its input shape, layers and the group of its parameters."""

    def __init__(self, path, f, net):
        self.path = path
        prefix = "/%s/params" % net if net else "/params"
        if prefix not in f:
            nets = [k for k in f.keys() if isinstance(f[k], h5py.Group) and "params" in f[k]]
            hint = " (it holds %s: pass --net NAME)" % ", ".join(nets) if nets else ""
            raise InteropError("%s: %s: missing%s" % (path, prefix, hint))
        self.params = f[prefix]
        self.prefix = prefix
        self.config = parse_yaml(read_text(f["config"][()]), path) if "config" in f else {}
        if "layers" in self.params.attrs and "input_shape" in self.params.attrs:
            described = json.loads(read_text(self.params.attrs["layers"]))
            self.layers = [(d["type"], d["options"]) for d in described]
            self.input_shape = [int(v) for v in self.params.attrs["input_shape"]]
        elif net:
            raise InteropError("%s: %s has no layers attribute (written before mpitrain described its layers); "
                               "only classifier checkpoints are read from /config" % (path, prefix))
        else:
            model = self.config.get("model") or {}
            if "input" not in model:
                raise InteropError("%s: /config has no model.input" % path)
            shape = model["input"]
            self.input_shape = [int(shape)] if isinstance(shape, int) else [int(v) for v in shape]
            self.layers = layers_from_config(model, path)

    def group(self, index, kind):
        name = "%03d_%s" % (index, kind)
        return self.params[name] if name in self.params else None

    def tensor(self, index, kind, name, required=True):
        g = self.group(index, kind)
        if g is None or name not in g:
            if not required:
                return None
            raise InteropError("%s: %s/%03d_%s/%s: missing" % (self.path, self.prefix, index, kind, name))
        return torch.from_numpy(np.asarray(g[name][()], dtype=np.float32))


# ---- torch modules for what torch.nn has no single module of -----------------------------------------

class Preprocess(nn.Module):
    """mpitrain's fitted preprocessing: x' = ((x is NaN ? fill : x) - shift) * scale per feature."""

    def __init__(self, shift, scale, fill, sample_shape):
        super().__init__()
        self.register_buffer("shift", shift.reshape(sample_shape))
        self.register_buffer("scale", scale.reshape(sample_shape))
        self.register_buffer("fill", fill.reshape(sample_shape))

    def forward(self, x):
        x = torch.where(torch.isnan(x), self.fill.expand_as(x), x)
        return (x - self.shift) * self.scale


class Activation(nn.Module):
    """An mpitrain activation: softmax over dim (-1: the last axis; None: the whole sample), step at a threshold."""

    def __init__(self, name, alpha=LEAKY_RELU_ALPHA, threshold=0.0, softmax_dim=-1):
        super().__init__()
        self.name = name
        self.alpha = float(alpha)
        self.threshold = float(threshold)
        self.whole_sample = softmax_dim is None

    def forward(self, x):
        if self.name == "linear":
            return x
        if self.name == "relu":
            return F.relu(x)
        if self.name == "leaky_relu":
            return F.leaky_relu(x, self.alpha)
        if self.name == "sigmoid":
            return torch.sigmoid(x)
        if self.name == "tanh":
            return torch.tanh(x)
        if self.name == "gelu":
            return F.gelu(x)
        if self.name == "step":
            return (x > self.threshold).to(x.dtype)
        if self.name == "softmax":
            if self.whole_sample:
                return torch.softmax(x.flatten(1), dim=1).reshape(x.shape)
            return torch.softmax(x, dim=-1)
        raise RuntimeError("activation %s" % self.name)

    def extra_repr(self):
        return self.name


class WithActivation(nn.Module):
    """A layer with mpitrain's fused activation; keeps the pre-activation (logits) of the last call."""

    def __init__(self, layer, activation):
        super().__init__()
        self.layer = layer
        self.activation = activation

    def forward(self, x):
        return self.activation(self.layer(x))


class Dense(nn.Module):
    """nn.Linear on the flattened sample (mpitrain's dense flattens its input)."""

    def __init__(self, linear):
        super().__init__()
        self.linear = linear

    def forward(self, x):
        return self.linear(x.flatten(1))


class Images(nn.Module):
    """Runs an image layer on [N, C, H, W]: a sample [H, W] is one channel, and keeps its rank if asked."""

    def __init__(self, layer, keep_rank):
        super().__init__()
        self.layer = layer
        self.keep_rank = keep_rank

    def forward(self, x):
        flat = x.dim() == 3
        y = self.layer(x.unsqueeze(1) if flat else x)
        return y.squeeze(1) if flat and self.keep_rank else y


class ZeroPad(nn.Module):
    """Pads (left, right, top, bottom) with a constant before a layer that pads nothing itself."""

    def __init__(self, pads, value=0.0):
        super().__init__()
        self.pads = tuple(int(p) for p in pads)
        self.value = float(value)

    def forward(self, x):
        return F.pad(x, self.pads, value=self.value) if any(self.pads) else x


class AvgPoolSame(nn.Module):
    """Average over the input values inside each window (windows may reach into the padding)."""

    def __init__(self, kernel, stride, pads):
        super().__init__()
        self.kernel, self.stride, self.pads = kernel, stride, tuple(pads)

    def forward(self, x):
        ones = torch.ones_like(x[:, :1])
        s = F.avg_pool2d(F.pad(x, self.pads), self.kernel, self.stride)
        n = F.avg_pool2d(F.pad(ones, self.pads), self.kernel, self.stride)
        return s / n


class Negate(nn.Module):
    """min pooling as -max(-x)."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return -self.layer(-x)


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean(dim=(-2, -1)) if x.dim() == 4 else x.flatten(1).mean(dim=1, keepdim=True)


class Reshape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = [int(v) for v in shape]

    def forward(self, x):
        return x.reshape([x.shape[0]] + self.shape)


class TransposedConv(nn.Module):
    """mpitrain's conv2d_transpose: the full transposed convolution, cropped from (pt, pl) to [OH, OW]
    (zero rows added past its end for output_padding), then the bias."""

    def __init__(self, convt, bias, crop, out_hw):
        super().__init__()
        self.convt = convt
        self.bias = nn.Parameter(bias) if bias is not None else None
        self.crop = crop
        self.out_hw = out_hw

    def forward(self, x):
        y = self.convt(x)
        pt, pl = self.crop
        oh, ow = self.out_hw
        extra_h, extra_w = max(pt + oh - y.shape[2], 0), max(pl + ow - y.shape[3], 0)
        if extra_h or extra_w:
            y = F.pad(y, (0, extra_w, 0, extra_h))
        y = y[:, :, pt:pt + oh, pl:pl + ow]
        return y if self.bias is None else y + self.bias.reshape(1, -1, 1, 1)


class Recurrent(nn.Module):
    """One-layer nn.RNN / LSTM / GRU (batch_first) returning the sequence or the last hidden state."""

    def __init__(self, rnn, return_sequences):
        super().__init__()
        self.rnn = rnn
        self.return_sequences = bool(return_sequences)

    def forward(self, x):
        y, _ = self.rnn(x)
        return y if self.return_sequences else y[:, -1]


class Embedding(nn.Module):
    """nn.Embedding on token ids given as numbers; ids that are not integers in [0, input_dim) give zero
    vectors, as in mpitrain."""

    def __init__(self, emb):
        super().__init__()
        self.emb = emb

    def forward(self, x):
        valid = (x == torch.floor(x)) & (x >= 0) & (x < self.emb.num_embeddings)
        ids = torch.where(valid, x, torch.zeros_like(x)).long()
        return self.emb(ids) * valid.unsqueeze(-1).to(self.emb.weight.dtype)


# ---- building -----------------------------------------------------------------------------------------

def same_pads(size, kernel, stride):
    """mpitrain's `same`: (before, after) with output ceil(size / stride)."""
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_pads(padding, hw, k, s, what):
    """(left, right, top, bottom) of mpitrain's conv2d padding option."""
    if padding is None or padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        t, b = same_pads(hw[0], k[0], s[0])
        l, r = same_pads(hw[1], k[1], s[1])
        return (l, r, t, b)
    ph, pw = pair([int(v) for v in padding] if isinstance(padding, list) else int(padding), what)
    return (pw, pw, ph, ph)


def image_shape(shape, what):
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 3:
        return tuple(shape)
    raise InteropError("%s: expects [C, H, W] or [H, W] samples, got %r" % (what, shape))


def activation_of(opts, whole_sample_softmax):
    name = canonical_activation(opts.get("activation", "linear"))
    return Activation(name, softmax_dim=None if whole_sample_softmax else -1)


def build_layer(net, index, kind, opts, shape):
    """The torch module of layer `index` given its input sample shape."""
    what = "%s: layer %d (%s)" % (net.path, index, kind)
    t = lambda name, required=True: net.tensor(index, kind, name, required)  # noqa: E731
    if kind == "dense":
        w, b = t("weight"), t("bias", False)
        lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
        load(lin, weight=w, bias=b)
        return WithActivation(Dense(lin), activation_of(opts, False))
    if kind == "conv2d":
        w, b = t("weight"), t("bias", False)
        c, h, wd = image_shape(shape, what)
        k = (w.shape[2], w.shape[3])
        s = pair(opts.get("strides", [1]), what + ".strides")
        conv = nn.Conv2d(w.shape[1], w.shape[0], k, stride=s, bias=b is not None)
        load(conv, weight=w, bias=b)
        body = nn.Sequential(ZeroPad(conv_pads(opts.get("padding"), (h, wd), k, s, what)), conv)
        return WithActivation(Images(body, keep_rank=False), activation_of(opts, True))
    if kind == "conv2d_transpose":
        w, b = t("weight"), t("bias", False)
        c, h, wd = image_shape(shape, what)
        k = (w.shape[2], w.shape[3])
        s = pair(opts.get("strides", [1]), what + ".strides")
        op = pair(opts.get("output_padding", [0]), what + ".output_padding")
        padding = opts.get("padding")
        if padding is None or padding == "valid":
            pt = pl = 0
            out = ((h - 1) * s[0] + k[0] + op[0], (wd - 1) * s[1] + k[1] + op[1])
        elif padding == "same":
            pt, pl = max(k[0] - s[0], 0) // 2, max(k[1] - s[1], 0) // 2
            out = (h * s[0], wd * s[1])
        else:
            pt, pl = pair([int(v) for v in padding] if isinstance(padding, list) else int(padding), what)
            out = ((h - 1) * s[0] - 2 * pt + k[0] + op[0], (wd - 1) * s[1] - 2 * pl + k[1] + op[1])
        convt = nn.ConvTranspose2d(w.shape[0], w.shape[1], k, stride=s, bias=False)
        load(convt, weight=w)
        body = TransposedConv(convt, b, (pt, pl), out)
        return WithActivation(Images(body, keep_rank=False), activation_of(opts, True))
    if kind in ("max_pool2d", "min_pool2d", "avg_pool2d"):
        c, h, wd = image_shape(shape, what)
        k = pair(opts.get("pool_size", [2]), what + ".pool_size")
        strides = opts.get("strides") or []
        s = pair(strides, what + ".strides") if strides else k
        if opts.get("padding", "valid") == "same":
            t_, b_ = same_pads(h, k[0], s[0])
            l_, r_ = same_pads(wd, k[1], s[1])
            pads = (l_, r_, t_, b_)
        else:
            pads = (0, 0, 0, 0)
        if kind == "avg_pool2d":
            body = AvgPoolSame(k, s, pads) if any(pads) else nn.AvgPool2d(k, s)
        else:
            body = nn.Sequential(ZeroPad(pads, -math.inf), nn.MaxPool2d(k, s))
            if kind == "min_pool2d":
                body = Negate(body)
        return Images(body, keep_rank=True)
    if kind == "global_avg_pool":
        return Images(GlobalAvgPool(), keep_rank=False)
    if kind == "batch_norm":
        w, b = t("weight"), t("bias")
        rm, rv = t("running_mean"), t("running_var")
        eps, momentum = float(opts.get("epsilon", 1e-5)), float(opts.get("momentum", 0.1))
        bn = (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(w.shape[0], eps=eps, momentum=momentum)
        load(bn, weight=w, bias=b, running_mean=rm, running_var=rv)
        return bn
    if kind == "dropout":
        return nn.Dropout(float(opts["rate"]))
    if kind == "flatten":
        return nn.Flatten()
    if kind == "reshape":
        return Reshape(opts["shape"])
    if kind in ("relu", "sigmoid", "tanh", "softmax", "gelu"):
        return Activation(kind)
    if kind == "leaky_relu":
        return Activation("leaky_relu", alpha=opts.get("alpha", LEAKY_RELU_ALPHA))
    if kind == "step":
        return Activation("step", threshold=opts.get("threshold", 0.0))
    if kind == "activation":
        name = canonical_activation(opts["name"])
        alpha, threshold = opts.get("alpha"), opts.get("threshold")
        return Activation(name, alpha=float(alpha) if alpha not in (None, "") else LEAKY_RELU_ALPHA,
                          threshold=float(threshold) if threshold not in (None, "") else 0.0)
    if kind == "prelu":
        w = t("weight")
        prelu = nn.PReLU(num_parameters=w.shape[0])
        load(prelu, weight=w)
        return prelu
    if kind == "upsample2d":
        size = pair(opts.get("size", [2]), what + ".size")
        return Images(nn.Upsample(scale_factor=size, mode="nearest"), keep_rank=True)
    if kind == "embedding":
        w = t("weight")
        emb = nn.Embedding(w.shape[0], w.shape[1])
        load(emb, weight=w)
        return Embedding(emb)
    if kind in ("rnn", "lstm", "gru"):
        w_ih, w_hh = t("weight_ih_l0"), t("weight_hh_l0")
        gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
        hidden = w_hh.shape[1]
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        rnn = cls(w_ih.shape[1], hidden, batch_first=True)
        assert w_ih.shape[0] == gates * hidden
        load(rnn, weight_ih_l0=w_ih, weight_hh_l0=w_hh, bias_ih_l0=t("bias_ih_l0"), bias_hh_l0=t("bias_hh_l0"))
        return Recurrent(rnn, opts.get("return_sequences", False))
    raise InteropError("%s: layer %d is '%s', which has no PyTorch equivalent in torch_interop.py"
                       % (net.path, index, kind))


def load(module, **tensors):
    """Copies the checkpoint's tensors into module's state dict entries of the same names and shapes."""
    state = module.state_dict()
    for name, value in tensors.items():
        if value is None:
            continue
        if tuple(state[name].shape) != tuple(value.shape):
            raise InteropError("%s: %s has shape %s, torch expects %s" % (type(module).__name__, name,
                               list(value.shape), list(state[name].shape)))
        state[name] = value
    module.load_state_dict(state)


def read_preprocessing(f, features):
    if "preprocessing" not in f:
        return None
    g = f["preprocessing"]
    arrays = [torch.from_numpy(np.asarray(g[n][()], dtype=np.float32)) for n in ("shift", "scale", "fill")]
    if any(a.numel() != features for a in arrays):
        raise InteropError("/preprocessing: %d features expected" % features)
    return arrays


def build_model(path, net_name=None):
    """(nn.Sequential in eval mode, input sample shape, config dict) for the checkpoint at path."""
    with h5py.File(path, "r") as f:
        fmt = read_text(f.attrs.get("format", b"mpitrain-checkpoint"))
        if fmt != "mpitrain-checkpoint":
            raise InteropError("%s: not an mpitrain checkpoint (format '%s')" % (path, fmt))
        net = Network(path, f, net_name)
        shape = list(net.input_shape)
        modules = OrderedDict()
        features = int(np.prod(shape))
        prep = read_preprocessing(f, features) if not net_name else None
        if prep is not None:
            modules["preprocessing"] = Preprocess(*prep, sample_shape=shape)
        for i, (kind, opts) in enumerate(net.layers):
            m = build_layer(net, i, kind, opts, shape)
            m.eval()
            with torch.no_grad():
                dummy = torch.zeros([1] + shape)
                shape = list(m(dummy).shape[1:])
            modules["layer%03d_%s" % (i, kind)] = m
        model = nn.Sequential(modules)
        model.eval()
        return model, list(net.input_shape), net.config


# ---- data and evaluation ------------------------------------------------------------------------------

def read_split(path, split, batch):
    """Yields (x float32 tensor, y numpy) batches of /<split>/x and /<split>/y as mpitrain reads them."""
    with h5py.File(path, "r") as f:
        if split not in f or "x" not in f[split] or "y" not in f[split]:
            raise InteropError("%s: /%s/x or /%s/y: missing" % (path, split, split))
        x, y = f[split]["x"], f[split]["y"]
        n = x.shape[0]
        for start in range(0, n, batch):
            xb = x[start:start + batch]
            if xb.dtype == np.uint8:
                xt = torch.from_numpy(xb.astype(np.float32)) / 255.0  # v / 255.0f, as mpitrain
            else:
                xt = torch.from_numpy(xb.astype(np.float32))
            yield xt, np.asarray(y[start:start + batch])


def loss_name(config):
    loss = config.get("loss", "categorical_crossentropy")
    return loss.get("name") if isinstance(loss, dict) else loss


def evaluate(model, input_shape, data, split, loss, batch=1000):
    """(rows, correct, mean loss) over the split: accuracy as argmax for several outputs, output > 0.5 for one.
    Cross-entropy is computed as mpitrain eval computes it, from the output probabilities clipped to
    [1e-7, 1] (F.cross_entropy on the logits gives a slightly larger mean when some p < 1e-7)."""
    rows, correct, total_loss = 0, 0, 0.0
    cce = loss in ("categorical_crossentropy", "cce", "crossentropy", "cross_entropy",
                   "sparse_categorical_crossentropy")
    with torch.no_grad():
        for xb, yb in read_split(data, split, batch):
            xb = xb.reshape([xb.shape[0]] + input_shape)
            out = model(xb).flatten(1).double()
            rows += out.shape[0]
            if yb.ndim == 1:
                target = torch.from_numpy(yb.astype(np.int64))
                if out.shape[1] > 1:
                    pred = out.argmax(dim=1)
                    if cce:  # as mpitrain eval: from the float32 probabilities clipped to [1e-7, 1]
                        p = out.gather(1, target[:, None]).float().clamp(1e-7, 1.0).double()
                        total_loss += -torch.log(p).sum().item()
                else:
                    pred = (out[:, 0] > 0.5).long()
                correct += int((pred == target).sum())
            else:
                t = torch.from_numpy(yb.astype(np.float64))
                if out.shape[1] > 1:
                    correct += int((out.argmax(dim=1) == t.argmax(dim=1)).sum())
                else:
                    correct += int(((out[:, 0] > 0.5) == (t[:, 0] > 0.5)).sum())
                if loss in ("mse", "mean_squared_error"):
                    total_loss += ((out - t) ** 2).mean(dim=1).sum().item()
                elif loss in ("mae", "mean_absolute_error"):
                    total_loss += (out - t).abs().mean(dim=1).sum().item()
    return rows, correct, (total_loss / rows if rows else float("nan"))


def run_mpitrain_eval(mpitrain, ckpt, data, split):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "eval.json")
        cmd = [mpitrain, "eval", ckpt, "--data", data, "--split", split, "--json", out]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        if p.returncode != 0:
            raise RuntimeError("%s failed (exit %d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
        with open(out) as fh:
            return json.load(fh)


def correct_count(report):
    """Correct predictions in mpitrain eval's JSON: the confusion matrix's diagonal, else accuracy x rows."""
    cm = report.get("confusion_matrix")
    if cm:
        return int(round(sum(cm[i][i] for i in range(len(cm)))))
    acc = report.get("accuracy", report.get("binary_accuracy"))
    return None if acc is None else int(round(acc * report["rows"]))


def default_split(config):
    data = config.get("data") or {}
    for key in ("test", "validation"):
        if data.get(key):
            return data[key]
    return "test"


def main(argv):
    ap = argparse.ArgumentParser(description="Evaluate an mpitrain checkpoint with PyTorch.")
    ap.add_argument("checkpoint")
    ap.add_argument("--data", help="dataset file (default: data.file of the stored config)")
    ap.add_argument("--split", help="split to evaluate (default: data.test, else data.validation, else test)")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--compare", action="store_true", help="also run mpitrain eval and check agreement")
    ap.add_argument("--mpitrain", default=os.environ.get("MPITRAIN", "mpitrain"), help="the mpitrain program")
    ap.add_argument("--export", metavar="MODEL.pt", help="write the model as TorchScript")
    ap.add_argument("--state-dict", metavar="WEIGHTS.pt", help="write the model's state_dict")
    ap.add_argument("--net", help="network of a GAN checkpoint (generator, discriminator): build and export only")
    ap.add_argument("--no-eval", action="store_true", help="only build (and export) the model")
    a = ap.parse_args(argv)
    try:
        model, input_shape, config = build_model(a.checkpoint, a.net)
        if a.export:
            traced = torch.jit.trace(model, torch.rand([2] + input_shape))
            traced.save(a.export)
            print("wrote %s (TorchScript; input [N, %s])" % (a.export, ", ".join(map(str, input_shape))))
        if a.state_dict:
            torch.save(model.state_dict(), a.state_dict)
            print("wrote %s (state_dict)" % a.state_dict)
        if a.net or a.no_eval:
            print(model)
            return 0
        data = a.data or (config.get("data") or {}).get("file")
        if not data:
            raise InteropError("%s: no --data and no data.file in its config" % a.checkpoint)
        split = a.split or default_split(config)
        rows, correct, loss = evaluate(model, input_shape, data, split, loss_name(config), a.batch_size)
    except (InteropError, OSError, KeyError, ValueError) as e:
        sys.stderr.write("torch_interop.py: %s\n" % e)
        return 2
    print("torch    %s /%s: %d rows, accuracy %.4f (%d correct), loss %.6f" % (data, split, rows,
          correct / rows if rows else float("nan"), correct, loss))
    if not a.compare:
        return 0
    try:
        report = run_mpitrain_eval(a.mpitrain, a.checkpoint, data, split)
    except (RuntimeError, OSError) as e:
        sys.stderr.write("torch_interop.py: %s\n" % e)
        return 1
    mt_correct, mt_loss = correct_count(report), report.get("loss")
    print("mpitrain %s /%s: %d rows, accuracy %.4f (%s correct), loss %s" % (data, split, report["rows"],
          report.get("accuracy", float("nan")), mt_correct, mt_loss))
    ok = report["rows"] == rows and mt_correct is not None and abs(mt_correct - correct) <= 1
    loss_ok = mt_loss is None or math.isnan(loss) or abs(mt_loss - loss) <= 1e-4 * max(1.0, abs(mt_loss))
    if ok and loss_ok:
        print("agree: %d vs %d correct of %d, loss %.6f vs %.6f" % (correct, mt_correct, rows, loss, mt_loss))
        return 0
    print("DISAGREE: torch %d correct, mpitrain %s correct of %d rows; loss torch %.6f, mpitrain %s"
          % (correct, mt_correct, rows, loss, mt_loss))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""K-FAC eigen-spectrum of the (empirical or Monte-Carlo) Fisher of a network for one mini-batch.

Conventions (``DESIGN.md``, "K-FAC"): per-example gradients of the *summed* loss; for a layer with weights
``W_bar = (b W)`` and N examples,

* Linear:    ``Omega = (1/N) sum_n a_bar a_bar^T`` with ``a_bar = (1, a)``, ``Gamma = (1/N) sum_n g g^T``;
* Conv (Grosse & Martens 2016, Eq. 17-18): ``Omega = (1/N) sum_n sum_t a_bar a_bar^T`` over the unfolded patches,
  ``Gamma = (1/(N |T|)) sum_n sum_t g g^T`` (``|T|`` = output locations);
* depthwise conv (``groups == in_channels == out_channels``): every channel contributes its own patch row, so
  ``Omega`` is ``(|Delta|+1)^2`` and sums over ``N |T| C`` rows; ``Gamma`` as for a conv;
* Linear layers applied to N-D inputs ``(N, ..., d)`` treat the middle dimensions as weight-sharing locations
  exactly like a convolution ("expand" K-FAC): ``Omega`` sums over them, ``Gamma`` is divided by their count.

The spectrum of ``Omega kron Gamma`` is every pairwise sum of the log-eigenvalues of the two factors (``eigvalsh`` in
float64). Individual eigenvalues that round to zero or below (a PSD matrix's round-off, rank deficiency) have log
``-inf`` and are kept. Non-finite activations, gradients or factors (exploding), or a factor that is identically zero
(vanishing), make a layer (and the result) invalid with a reason; nothing is silently dropped.
"""

from __future__ import annotations

import itertools
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from act_bench._validation import check_choice
from act_bench.errors import InvalidInputError

__all__ = [
    "FISHER_TYPES",
    "LOSSES",
    "Captured",
    "FimSpectra",
    "LayerInfo",
    "LayerKind",
    "LayerSpectrum",
    "capture",
    "compute_spectra",
    "fim_layers",
    "fim_log_eigenvalues",
    "kronecker_factors",
]

LOSSES = ("cross_entropy", "mse")
FISHER_TYPES = ("empirical", "mc")

#: Parameterised layers that are not part of the FIM (as in the paper).
_EXCLUDED = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm) + (
    (nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())

# Unfolded patches are built a few examples at a time, about this many elements at once: small enough for the chunk
# to stay in cache between the unfold and the product (3.5x less CPU than 2**25 for MobileViTv2's depthwise layers).
_CHUNK_ELEMS = 1 << 20


class LayerKind(str, Enum):
    """Kind of a weight layer in the FIM."""

    LINEAR = "linear"
    CONV1D = "conv1d"
    CONV2D = "conv2d"
    DEPTHWISE1D = "depthwise-conv1d"
    DEPTHWISE2D = "depthwise-conv2d"


@dataclass(frozen=True)
class LayerInfo:
    """A weight layer of the FIM: module name, kind, number of weights (incl. bias), factor sizes."""

    name: str
    kind: LayerKind
    weights: int
    omega_dim: int
    gamma_dim: int


@dataclass(frozen=True)
class LayerSpectrum:
    """Log-eigenvalues of one K-FAC block ``Omega kron Gamma``.

    Attributes
    ----------
    name : str
        Module name in the network (``model.named_modules()``).
    weights : int
        Number of weights of the layer (including the bias) = number of eigenvalues.
    log_eigenvalues : numpy.ndarray
        float64, length ``weights`` (``-inf`` for zero eigenvalues); empty when the layer is invalid.
    valid : bool
        False when the activations, gradients or factors of this layer are not finite, or a factor is zero.
    reason : str or None
        Why the layer is invalid.
    kind : LayerKind
        Layer type.
    omega_eigenvalues, gamma_eigenvalues : numpy.ndarray
        float64 eigenvalues of the two factors (empty when invalid).
    """

    name: str
    weights: int
    log_eigenvalues: np.ndarray = field(repr=False)
    valid: bool = True
    reason: str | None = None
    kind: LayerKind = LayerKind.LINEAR
    omega_eigenvalues: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    gamma_eigenvalues: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)


@dataclass(frozen=True)
class FimSpectra:
    """All layer spectra of one network plus the overall verdict and the time split (seconds)."""

    layers: list[LayerSpectrum]
    valid: bool
    reason: str | None
    timings: dict[str, float]


# ---------------------------------------------------------------------------------------------------- layer table


def _conv_geometry(mod: nn.Module) -> tuple[int, int]:
    """(dims, kernel elements) of a Conv1d/Conv2d."""
    return (1 if isinstance(mod, nn.Conv1d) else 2), math.prod(mod.kernel_size)


def _layer_info(name: str, mod: nn.Module) -> LayerInfo:
    bias = 1 if getattr(mod, "bias", None) is not None else 0
    if isinstance(mod, nn.Linear):
        return LayerInfo(name, LayerKind.LINEAR, mod.weight.numel() + bias * mod.out_features,
                         mod.in_features + bias, mod.out_features)
    if isinstance(mod, (nn.Conv1d, nn.Conv2d)):
        dims, k = _conv_geometry(mod)
        cin, cout, groups = mod.in_channels, mod.out_channels, mod.groups
        weights = mod.weight.numel() + bias * cout
        if groups == 1:
            kind = LayerKind.CONV1D if dims == 1 else LayerKind.CONV2D
            return LayerInfo(name, kind, weights, cin * k + bias, cout)
        if groups == cin == cout:
            kind = LayerKind.DEPTHWISE1D if dims == 1 else LayerKind.DEPTHWISE2D
            return LayerInfo(name, kind, weights, k + bias, cout)
        raise InvalidInputError(
            f"layer {name!r} is a grouped convolution (groups={groups}, in={cin}, out={cout}); the FIM supports "
            "groups == 1 and depthwise convolutions (groups == in_channels == out_channels)")
    raise InvalidInputError(f"layer {name!r} of type {type(mod).__name__} is not supported")


def fim_layers(model: nn.Module) -> list[LayerInfo]:
    """The weight layers of ``model`` that enter the FIM, in module order (nothing is computed).

    Linear, Conv1d and Conv2d (incl. depthwise) are included; normalisation layers are excluded; any other module
    that owns parameters raises :class:`~act_bench.errors.InvalidInputError`.

    Examples
    --------
    >>> m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    >>> [(x.name, x.weights) for x in fim_layers(m)]
    [('0', 16), ('2', 10)]
    """
    if not isinstance(model, nn.Module):
        raise InvalidInputError(f"parameter model must be a torch.nn.Module; got {type(model).__name__}")
    out = []
    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            out.append(_layer_info(name, mod))
        elif isinstance(mod, _EXCLUDED):
            continue
        elif any(True for _ in mod.parameters(recurse=False)):
            raise InvalidInputError(
                f"layer {name!r} of type {type(mod).__name__} owns parameters but is not supported by the FIM "
                "(supported: Linear, Conv1d, Conv2d incl. depthwise; norm layers are excluded)")
    return out


# ---------------------------------------------------------------------------------------------------- factors


def _explicit_padding(mod: nn.Module) -> list[tuple[int, int]]:
    """(left, right) padding per spatial dim of the convolution, resolving 'same'/'valid'."""
    k, d = mod.kernel_size, mod.dilation
    dims = len(k)
    if isinstance(mod.padding, str):
        if mod.padding == "valid":
            return [(0, 0)] * dims
        pads = []  # 'same' (PyTorch allows it only with stride 1): the extra pixel goes to the right
        for i in range(dims):
            total = d[i] * (k[i] - 1)
            pads.append((total // 2, total - total // 2))
        return pads
    return [(p, p) for p in mod.padding]


def _pad_input(mod: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Pad a (N, C, H, W) input exactly as the convolution does (any padding mode)."""
    pads = _explicit_padding(mod)
    if len(pads) == 1:
        pads = [(0, 0)] + pads
    flat = [pads[1][0], pads[1][1], pads[0][0], pads[0][1]]
    if not any(flat):
        return x
    mode = getattr(mod, "padding_mode", "zeros")
    if mode == "zeros":
        return F.pad(x, flat)
    return F.pad(x, flat, mode=mode)


def _as_2d(mod: nn.Module):
    """kernel, stride, dilation as 2-tuples (a Conv1d is a Conv2d with height 1)."""
    if isinstance(mod, nn.Conv1d):
        return (1, mod.kernel_size[0]), (1, mod.stride[0]), (1, mod.dilation[0])
    return tuple(mod.kernel_size), tuple(mod.stride), tuple(mod.dilation)


def _out_size(hp: int, wp: int, k, s, d) -> tuple[int, int]:
    return (hp - d[0] * (k[0] - 1) - 1) // s[0] + 1, (wp - d[1] * (k[1] - 1) - 1) // s[1] + 1


def _batch_chunks(n: int, per_example: int) -> list[slice]:
    step = max(1, _CHUNK_ELEMS // max(1, per_example))
    return [slice(i, min(n, i + step)) for i in range(0, n, step)]


def _gram_rows(m: torch.Tensor) -> torch.Tensor:
    """``sum_b m[b] m[b]^T`` (float64) for ``m`` of shape (B, D, L): batched products on views when the per-batch
    Gram matrices are no larger than the inputs (D <= L), else one product after a transposed copy."""
    b, dim, length = m.shape
    if dim <= length:
        return torch.bmm(m, m.transpose(1, 2)).sum(0, dtype=torch.float64)
    flat = m.transpose(0, 1).reshape(dim, b * length)
    return (flat @ flat.T).double()


def _omega_unfold(xp: torch.Tensor, k, s, d, depthwise: bool) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Sum over patches of a a^T and of a, from explicit unfolding (any stride); patches a are (c, kh, kw)-ordered
    (or (kh, kw) per channel for depthwise). Returns (sum a a^T, sum a, number of rows) in float64."""
    n, c = xp.shape[:2]
    ho, wo = _out_size(xp.shape[2], xp.shape[3], k, s, d)
    kk = k[0] * k[1]
    dim = kk if depthwise else c * kk
    gram = torch.zeros(dim, dim, dtype=torch.float64, device=xp.device)
    total = torch.zeros(dim, dtype=torch.float64, device=xp.device)
    for sl in _batch_chunks(n, c * kk * ho * wo):
        if kk == 1 and s == (1, 1):
            cols = xp[sl].reshape(xp[sl].shape[0], c, -1)  # a 1x1 convolution needs no unfolding
        else:
            cols = F.unfold(xp[sl], k, dilation=d, stride=s)  # (n, C*kk, L)
        if depthwise:  # every (example, channel) contributes its own kk x L patch matrix
            cols = cols.reshape(-1, kk, cols.shape[-1])
        gram += _gram_rows(cols)
        total += cols.sum((0, 2), dtype=torch.float64)
    rows = n * ho * wo * (c if depthwise else 1)
    return gram, total, rows


def _omega_blocks(xp: torch.Tensor, k, s, d) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Same as :func:`_omega_unfold` for ``groups == 1``, without materialising the unfolded patches.

    Kernel offset ``delta`` reads location ``i`` of the padded input at ``s*i + d*delta``, i.e. location
    ``i + o(delta)`` of the stride phase ``phi(delta)`` of the input. The C x C block of ``sum a a^T`` for offsets
    (delta, delta') is a Gram matrix between two shifted windows of those phase images. Pairs that share
    (phi, phi', o' - o) have windows that differ only by thin borders: their union is cut into tiles (row segment x
    column segment) whose Gram matrices are computed once and summed per block, so a group costs one pass over the
    union of its windows; only blocks with ``delta <= delta'`` are computed (the rest by symmetry).
    """
    n, c, hp, wp = xp.shape
    (kh, kw), (sh, sw), (dh, dw) = k, s, d
    ho, wo = _out_size(hp, wp, k, s, d)
    kk = kh * kw
    # Layout (H, W, N, C): a window [r0:r1, c0:c1] of one phase image is a (rows, cols*N, C) strided view, so
    # every Gram matrix below is a batched matrix product over rows, without copying the window.
    xt = xp.permute(2, 3, 0, 1)
    phases: dict[tuple[int, int], torch.Tensor] = {}
    elems = []
    for ia in range(kh):
        for ib in range(kw):
            ra, rb = dh * ia, dw * ib
            key = (ra % sh, rb % sw)
            if key not in phases:
                phases[key] = xt[key[0]::sh, key[1]::sw].contiguous()
            elems.append((key, (ra // sh, rb // sw)))
    groups: dict[tuple, list[tuple[int, int, tuple[int, int]]]] = {}
    for i in range(kk):
        for j in range(i, kk):
            (pi, oi), (pj, oj) = elems[i], elems[j]
            groups.setdefault((pi, pj, oj[0] - oi[0], oj[1] - oi[1]), []).append((i, j, oi))

    def gram(img_a, img_b, shift, r0, r1, c0, c1):
        a = img_a[r0:r1, c0:c1].reshape(r1 - r0, -1, c)
        b = img_b[r0 + shift[0]:r1 + shift[0], c0 + shift[1]:c1 + shift[1]].reshape(r1 - r0, -1, c)
        return torch.bmm(a.transpose(1, 2), b).sum(0, dtype=torch.float64)

    def segments(starts: list[int], length: int) -> list[tuple[int, int]]:
        cuts = sorted({x for s0 in starts for x in (s0, s0 + length)})
        return list(itertools.pairwise(cuts))

    blocks = torch.empty(kk, c, kk, c, dtype=torch.float64, device=xp.device)
    for (pi, pj, da, db), items in groups.items():
        img_a, img_b, shift = phases[pi], phases[pj], (da, db)
        # Windows of this group are unions of tiles (row segment x column segment); each tile's Gram is computed
        # once, so the group costs one pass over the union of its windows.
        rsegs = segments([o[0] for _, _, o in items], ho)
        csegs = segments([o[1] for _, _, o in items], wo)
        tiles = {}
        for i, j, (r0, c0) in items:
            blk = torch.zeros(c, c, dtype=torch.float64, device=xp.device)
            for rs in rsegs:
                if not (r0 <= rs[0] and rs[1] <= r0 + ho):
                    continue
                for cs in csegs:
                    if not (c0 <= cs[0] and cs[1] <= c0 + wo):
                        continue
                    if (rs, cs) not in tiles:
                        tiles[(rs, cs)] = gram(img_a, img_b, shift, rs[0], rs[1], cs[0], cs[1])
                    blk += tiles[(rs, cs)]
            blocks[i, :, j, :] = blk
            if i != j:
                blocks[j, :, i, :] = blk.T
    gram_all = blocks.permute(1, 0, 3, 2).reshape(c * kk, c * kk)
    total = torch.empty(c, kk, dtype=torch.float64, device=xp.device)
    sums = {key: img.sum(2, dtype=torch.float64) for key, img in phases.items()}  # (H', W', C)
    for idx, (key, (r0, c0)) in enumerate(elems):
        total[:, idx] = sums[key][r0:r0 + ho, c0:c0 + wo].sum((0, 1))
    return gram_all, total.reshape(-1), n * ho * wo


def _omega_depthwise(xp: torch.Tensor, k, s, d) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Same as :func:`_omega_unfold` for a depthwise convolution: entry (delta, delta') is the sum over examples,
    channels and locations of the product of two strided views of the input, computed for a few examples at a time
    (cache-sized chunks) and only for ``delta <= delta'``."""
    n, c, hp, wp = xp.shape
    (kh, kw), (sh, sw), (dh, dw) = k, s, d
    ho, wo = _out_size(hp, wp, k, s, d)
    kk = kh * kw
    gram = torch.zeros(kk, kk, dtype=torch.float64, device=xp.device)
    total = torch.zeros(kk, dtype=torch.float64, device=xp.device)
    for sl in _batch_chunks(n, c * hp * wp):
        x = xp[sl]
        phases: dict[tuple[int, int], torch.Tensor] = {}  # stride phases as contiguous images (unit-stride windows)
        views = []
        for a in range(kh):
            for b in range(kw):
                key = ((dh * a) % sh, (dw * b) % sw)
                if key not in phases:
                    phases[key] = x[:, :, key[0]::sh, key[1]::sw].contiguous()
                oa, ob = (dh * a) // sh, (dw * b) // sw
                views.append(phases[key][:, :, oa:oa + ho, ob:ob + wo])
        for i in range(kk):  # chunk sums in the input dtype (cascade summation), accumulated in float64
            total[i] += float(views[i].sum())
            for j in range(i, kk):
                gram[i, j] += float((views[i] * views[j]).sum())
    gram = torch.triu(gram) + torch.triu(gram, 1).T
    return gram, total, n * ho * wo * c


def _use_blocks(c: int, k, depthwise: bool) -> bool:
    return not depthwise and k[0] * k[1] > 1 and c >= 8


def _with_bias(gram: torch.Tensor, total: torch.Tensor, rows: int, bias: bool) -> torch.Tensor:
    if not bias:
        return gram
    dim = gram.shape[0] + 1
    out = torch.empty(dim, dim, dtype=torch.float64, device=gram.device)
    out[0, 0] = rows
    out[0, 1:] = total
    out[1:, 0] = total
    out[1:, 1:] = gram
    return out


def kronecker_factors(module: nn.Module, inputs: torch.Tensor, output_grads: torch.Tensor, num_examples: int,
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """K-FAC factors ``(Omega, Gamma)`` (float64) of one layer from its input and the gradient of the summed loss
    with respect to its output, with the scaling of ``DESIGN.md``. ``Omega`` puts the bias coordinate first and the
    weights in ``module.weight.flatten(1)`` order (per channel for depthwise).

    Examples
    --------
    >>> lin = torch.nn.Linear(3, 2)
    >>> om, ga = kronecker_factors(lin, torch.randn(5, 3), torch.randn(5, 2), 5)
    >>> om.shape, ga.shape, float(om[0, 0])
    (torch.Size([4, 4]), torch.Size([2, 2]), 1.0)
    """
    x, g = inputs.detach(), output_grads.detach()
    bias = getattr(module, "bias", None) is not None
    n = num_examples
    if isinstance(module, nn.Linear):
        xm = x.reshape(-1, x.shape[-1])
        gm = g.reshape(-1, g.shape[-1])
        locations = xm.shape[0] // n
        gram = (xm.T @ xm).double()
        omega = _with_bias(gram, xm.sum(0, dtype=torch.float64), xm.shape[0], bias) / n
        gamma = (gm.T @ gm).double() / (n * locations)
        return omega, gamma
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        if isinstance(module, nn.Conv1d):
            x, g = x.unsqueeze(2), g.unsqueeze(2)
        k, s, d = _as_2d(module)
        depthwise = module.groups != 1
        xp = _pad_input(module, x)
        if depthwise and k[0] * k[1] > 1:
            gram, total, rows = _omega_depthwise(xp, k, s, d)
        elif _use_blocks(x.shape[1], k, depthwise):
            gram, total, rows = _omega_blocks(xp, k, s, d)
        else:
            gram, total, rows = _omega_unfold(xp, k, s, d, depthwise)
        omega = _with_bias(gram, total, rows, bias) / n
        locations = g.shape[2] * g.shape[3]
        gamma = _gram_rows(g.reshape(g.shape[0], g.shape[1], -1)) / (n * locations)
        return omega, gamma
    raise InvalidInputError(f"unsupported layer type {type(module).__name__}")


# ---------------------------------------------------------------------------------------------------- spectra


@contextmanager
def single_thread():
    """Run on one intra-op thread (restored afterwards). The factor step is hundreds of small products and the float64
    eigensolver's tridiagonal reduction does not scale to 2 threads; with 2 threads both slowed down 2-3x whenever
    the cores were shared (measured with benchmarks/bench_fim.py), on one thread they did not."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def log_eigenvalues(mat: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (float64, ``eigvalsh``) of a symmetric factor and their logs (``-inf`` for values <= 0)."""
    ev = torch.linalg.eigvalsh(mat.double()).cpu().numpy()
    with np.errstate(divide="ignore"):
        return ev, np.log(np.maximum(ev, 0.0))


def _finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t).all())


def _invalid(info: LayerInfo, reason: str) -> LayerSpectrum:
    return LayerSpectrum(info.name, info.weights, np.empty(0), False, reason, info.kind)


def _check_args(model, inputs, targets, loss, fisher, func: str):
    if not isinstance(model, nn.Module):
        raise InvalidInputError(f"parameter model of {func} must be a torch.nn.Module; got {type(model).__name__}")
    if not isinstance(inputs, torch.Tensor) or inputs.ndim < 1 or inputs.shape[0] < 1:
        raise InvalidInputError(f"parameter inputs of {func} must be a tensor with a non-empty batch dimension; "
                                f"got {type(inputs).__name__}{tuple(getattr(inputs, 'shape', ()))}")
    if not isinstance(targets, torch.Tensor) or targets.shape[:1] != inputs.shape[:1]:
        raise InvalidInputError(f"parameter targets of {func} must be a tensor with the same batch size as inputs "
                                f"({inputs.shape[0]}); got {type(targets).__name__}"
                                f"{tuple(getattr(targets, 'shape', ()))}")
    check_choice(loss, "loss", func, LOSSES)
    check_choice(fisher, "fisher", func, FISHER_TYPES)
    if loss == "cross_entropy" and (targets.dtype.is_floating_point or targets.ndim != 1):
        raise InvalidInputError(f"parameter targets of {func} must be integer class labels of shape (N,) for "
                                f"loss='cross_entropy'; got dtype {targets.dtype} and shape {tuple(targets.shape)}")


def _loss_and_labels(logits: torch.Tensor, targets: torch.Tensor, loss: str, fisher: str, seed: int | None):
    if fisher == "mc":
        gen = torch.Generator(device=logits.device)
        gen.manual_seed(int(np.random.SeedSequence(seed).generate_state(1)[0]))
        with torch.no_grad():
            if loss == "cross_entropy":
                probs = torch.softmax(logits.detach().double(), dim=-1)
                targets = torch.multinomial(probs, 1, generator=gen).squeeze(1).to(targets.device)
            else:  # sum of squares = -log N(y | f, I/2) + const
                noise = torch.randn(logits.shape, generator=gen, dtype=logits.dtype, device=logits.device)
                targets = logits.detach() + math.sqrt(0.5) * noise
    if loss == "cross_entropy":
        if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= logits.shape[-1]):
            raise InvalidInputError(f"targets must be class labels in [0, {logits.shape[-1] - 1}]; got values in "
                                    f"[{int(targets.min())}, {int(targets.max())}]")
        return F.cross_entropy(logits, targets.long(), reduction="sum")
    if targets.shape != logits.shape:
        raise InvalidInputError(f"targets must have the output shape {tuple(logits.shape)} for loss='mse'; "
                                f"got {tuple(targets.shape)}")
    return F.mse_loss(logits, targets.to(logits.dtype), reduction="sum")


@dataclass
class Captured:
    """Inputs of every FIM layer and gradients of the summed loss w.r.t. its output, from one forward/backward.

    ``reason`` is set (and ``layer_inputs``/``output_grads`` are empty) when the logits or the loss are not finite.
    """

    infos: list[LayerInfo]
    modules: dict[str, nn.Module]
    layer_inputs: dict[str, torch.Tensor]
    output_grads: dict[str, torch.Tensor]
    num_examples: int
    reason: str | None
    timings: dict[str, float]


def capture(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *, loss: str = "cross_entropy",
            fisher: str = "empirical", seed: int | None = None, train_mode: bool = False) -> Captured:
    """One forward pass with hooks and one backward pass of the summed loss to the outputs of the FIM layers only
    (no parameter gradients are formed). The model's train/eval flags are restored afterwards."""
    _check_args(model, inputs, targets, loss, fisher, "compute_spectra")
    infos = fim_layers(model)
    modules = dict(model.named_modules())
    if not infos:
        raise InvalidInputError("the model has no Linear/Conv1d/Conv2d layer, so its FIM is empty")
    param = next(model.parameters())
    x = inputs.to(param.device)
    if x.dtype.is_floating_point:
        x = x.to(param.dtype)
    n = x.shape[0]
    captured_in: dict[str, torch.Tensor] = {}
    captured_out: dict[str, torch.Tensor] = {}

    def make_hook(name: str):
        def hook(mod, args, out):
            if name in captured_in:
                raise InvalidInputError(f"layer {name!r} is called more than once in the forward pass; the K-FAC "
                                        "layer table needs each weight layer to be used exactly once")
            captured_in[name] = args[0].detach()
            captured_out[name] = out
        return hook

    timings = {"forward": 0.0, "backward": 0.0, "factors": 0.0, "eigen": 0.0}
    was_training = {m: m.training for m in model.modules()}
    handles = [modules[i.name].register_forward_hook(make_hook(i.name)) for i in infos]
    grads: dict[str, torch.Tensor] = {}
    reason = None
    try:
        model.train(train_mode)
        t0 = time.perf_counter()
        with torch.enable_grad():
            xin = x.detach().requires_grad_(True) if x.dtype.is_floating_point else x
            try:
                logits = model(xin)
            except InvalidInputError:
                raise
            except (RuntimeError, ValueError) as exc:
                raise InvalidInputError(f"forward pass of the model failed on inputs of shape {tuple(x.shape)}: "
                                        f"{str(exc).splitlines()[0]}") from None
            t1 = time.perf_counter()
            timings["forward"] = t1 - t0
            missing = [i.name for i in infos if i.name not in captured_out]
            if missing:
                raise InvalidInputError(f"layers {missing[:5]} were not used in the forward pass")
            if not _finite(logits):
                reason = "non-finite network output (logits)"
            else:
                total = _loss_and_labels(logits, targets.to(logits.device), loss, fisher, seed)
                if not bool(torch.isfinite(total)):
                    reason = "non-finite loss"
                elif not total.requires_grad:
                    raise InvalidInputError("the loss does not depend on any FIM layer output through autograd "
                                            "(are all parameters frozen and the inputs non-floating?)")
                else:
                    outs = [captured_out[i.name] for i in infos]
                    got = torch.autograd.grad(total, outs, allow_unused=True)
                    for info, out, g in zip(infos, outs, got):
                        grads[info.name] = torch.zeros_like(out) if g is None else g  # unused output: zero
            timings["backward"] = time.perf_counter() - t1
    finally:
        for h in handles:
            h.remove()
        for m, flag in was_training.items():
            m.training = flag
    if reason is not None:
        captured_in.clear()
    captured_out.clear()
    return Captured(infos, modules, captured_in, grads, n, reason, timings)


def compute_spectra(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *, loss: str = "cross_entropy",
                    fisher: str = "empirical", seed: int | None = None, train_mode: bool = False) -> FimSpectra:
    """K-FAC spectra of every weight layer plus a validity verdict; never raises for diverging activations.

    Parameters are as for :func:`fim_log_eigenvalues`. Returns a :class:`FimSpectra` whose ``timings`` split the run
    into ``forward``, ``backward``, ``factors`` and ``eigen`` seconds.
    """
    cap = capture(model, inputs, targets, loss=loss, fisher=fisher, seed=seed, train_mode=train_mode)
    timings = cap.timings
    if cap.reason is not None:
        return FimSpectra([_invalid(i, cap.reason) for i in cap.infos], False, cap.reason, timings)
    # Factors and eigen-decompositions run on one intra-op thread (see single_thread).
    with single_thread():
        return _spectra_from_capture(cap, timings)


def _spectra_from_capture(cap: Captured, timings: dict[str, float]) -> FimSpectra:
    factors: list[tuple[torch.Tensor, torch.Tensor] | str] = []
    t2 = time.perf_counter()
    for info in cap.infos:
        mod = cap.modules[info.name]
        a = cap.layer_inputs.pop(info.name)
        grad = cap.output_grads.pop(info.name)
        if not _finite(a):
            factors.append(f"non-finite input activations of layer {info.name!r}")
        elif not _finite(grad):
            factors.append(f"non-finite output gradients of layer {info.name!r}")
        else:
            omega, gamma = kronecker_factors(mod, a, grad, cap.num_examples)
            if _finite(omega) and _finite(gamma):
                factors.append((omega, gamma))
            else:
                factors.append(f"non-finite Kronecker factor of layer {info.name!r} (overflow)")
        del a, grad
    t3 = time.perf_counter()
    timings["factors"] = t3 - t2
    layers: list[LayerSpectrum] = []
    for info, fac in zip(cap.infos, factors):
        if isinstance(fac, str):
            layers.append(_invalid(info, fac))
            continue
        try:
            ev_o, lo = log_eigenvalues(fac[0])
            ev_g, lg = log_eigenvalues(fac[1])
        except (RuntimeError, np.linalg.LinAlgError) as exc:  # eigensolver did not converge
            layers.append(_invalid(info, f"eigendecomposition failed for layer {info.name!r}: {exc}"))
            continue
        if not (ev_o.max() > 0 and ev_g.max() > 0):
            which = "Omega (inputs)" if not ev_o.max() > 0 else "Gamma (output gradients)"
            layers.append(_invalid(info, f"vanishing: the K-FAC factor {which} of layer {info.name!r} is zero"))
            continue
        log_ev = (lo[:, None] + lg[None, :]).ravel()
        if np.isnan(log_ev).any() or np.isposinf(log_ev).any():
            layers.append(_invalid(info, f"non-finite eigenvalues of layer {info.name!r}"))
            continue
        layers.append(LayerSpectrum(info.name, info.weights, log_ev, True, None, info.kind, ev_o, ev_g))
    timings["eigen"] = time.perf_counter() - t3
    bad = next((s for s in layers if not s.valid), None)
    return FimSpectra(layers, bad is None, None if bad is None else bad.reason, timings)


def fim_log_eigenvalues(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *,
                        loss: str = "cross_entropy", fisher: str = "empirical", seed: int | None = None,
                        train_mode: bool = False) -> list[LayerSpectrum]:
    """Log-eigenvalues of the K-FAC approximation of the Fisher of ``model`` on one mini-batch, per weight layer.

    Parameters
    ----------
    model : torch.nn.Module
        Network whose output (logits) feeds the loss directly.
    inputs : torch.Tensor
        Mini-batch ``(N, ...)``.
    targets : torch.Tensor
        Integer labels ``(N,)`` for ``"cross_entropy"``, or outputs for ``"mse"``; ignored when ``fisher="mc"``
        except for its shape.
    loss : {"cross_entropy", "mse"}
        Summed loss (negative log-likelihood).
    fisher : {"empirical", "mc"}
        ``"empirical"`` uses the given labels; ``"mc"`` draws one label per example from the model's predictive
        distribution (paper Eq. 6).
    seed : int, optional
        Seed of the generator used by ``fisher="mc"`` (None: fresh entropy).
    train_mode : bool, default False
        Run the network in training mode (batch statistics, dropout). The default evaluates it in inference mode,
        as a freshly initialised network is called outside training.

    Returns
    -------
    list of LayerSpectrum
        In module order; ``valid=False`` with a ``reason`` (and empty eigenvalues) for layers whose activations,
        gradients or factors are not finite.

    Examples
    --------
    >>> torch.manual_seed(0) and None
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    >>> spectra = fim_log_eigenvalues(net, torch.randn(16, 4), torch.randint(0, 3, (16,)))
    >>> [(s.name, s.weights, s.log_eigenvalues.shape) for s in spectra]
    [('0', 40, (40,)), ('2', 27, (27,))]
    """
    return compute_spectra(model, inputs, targets, loss=loss, fisher=fisher, seed=seed, train_mode=train_mode).layers

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

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from act_bench._validation import check_choice
from act_bench.errors import InvalidInputError
from act_bench.features._kfac import kronecker_factors
from act_bench.features._layers import LayerInfo, LayerKind, fim_layers

__all__ = [
    "FISHER_TYPES",
    "LOSSES",
    "Captured",
    "FimSpectra",
    "LayerSpectrum",
    "capture",
    "compute_spectra",
    "fim_log_eigenvalues",
    "log_eigenvalues",
    "single_thread",
]

LOSSES = ("cross_entropy", "mse")
FISHER_TYPES = ("empirical", "mc")

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

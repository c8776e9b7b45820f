"""K-FAC factors of one layer: ``Omega`` from the layer's inputs (unfolded patches for convolutions, computed in
blocks or per channel where that is cheaper) and ``Gamma`` from the gradients at its output, scaled as in
``DESIGN.md`` ("K-FAC")."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from act_bench.errors import InvalidInputError

__all__ = ["kronecker_factors"]

# Unfolded patches are built a few examples at a time, about this many elements at once: small enough for the chunk
# to stay in cache between the unfold and the product (3.5x less CPU than 2**25 for MobileViTv2's depthwise layers).
_CHUNK_ELEMS = 1 << 20


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

"""The paper's baseline activation functions: names only, in a module of their own so that code which needs the
names (replays, reports, studies) does not import torch with the operators."""

from __future__ import annotations

__all__ = ["BASELINE_FUNCTIONS"]

#: The paper's 8 baseline activation functions, evaluated first by every searcher.
BASELINE_FUNCTIONS = ("elu(x)", "relu(x)", "selu(x)", "sigmoid(x)", "softplus(x)", "softsign(x)", "swish(x)",
                      "tanh(x)")

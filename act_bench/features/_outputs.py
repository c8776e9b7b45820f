"""Function-output features (paper appendix D): outputs on the 1,000 standard inputs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.space import Expr, function_outputs

__all__ = ["function_output_features"]


def function_output_features(functions: str | Expr | Sequence[str | Expr]) -> np.ndarray:
    """Outputs of one or several activation functions on the standard inputs (``STANDARD_INPUT_SPEC``).

    Parameters
    ----------
    functions : str, Expr or sequence of them

    Returns
    -------
    numpy.ndarray
        float32, shape ``(1000,)`` for one function or ``(len(functions), 1000)``; non-finite values are kept.

    Examples
    --------
    >>> function_output_features(["relu(x)", "tanh(x)"]).shape
    (2, 1000)
    """
    if isinstance(functions, (str, Expr)):
        return function_outputs(functions)
    if not isinstance(functions, Sequence) or not functions:
        raise InvalidInputError("parameter functions of function_output_features must be an expression or a "
                                f"non-empty sequence of expressions; got {functions!r}")
    return np.stack([function_outputs(f) for f in functions])

"""FIM bin layouts: which layer contributes how many values to a ``fim_cdf`` vector."""

from __future__ import annotations

import json
import numbers
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from act_bench.errors import InvalidInputError
from act_bench.tables._schema import CdfLayout

__all__ = ["detect_cdf_layout", "layout_entries", "normalize_layout", "read_layout_file"]

_NAME_KEYS = ("layer", "name")
_WEIGHT_KEYS = ("weights", "n_weights", "numel")


def _pick(item: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if isinstance(item, Mapping):
            if key in item:
                return item[key]
        elif hasattr(item, key):
            return getattr(item, key)
    return None


def normalize_layout(layout: Iterable[Any], *, where: str = "layout") -> list[dict[str, Any]]:
    """Turn a layer layout into ``[{"layer": str, "weights": int}, ...]`` (module order kept).

    Accepts an ``act_bench.features.FeatureLayout`` (``fim_layout(model)``), mappings or objects with
    ``layer``/``name`` and ``weights``/``n_weights``/``numel``, or ``(name, weights)`` pairs.

    Examples
    --------
    >>> normalize_layout([("conv1", 1728), {"layer": "fc", "weights": 1920}])
    [{'layer': 'conv1', 'weights': 1728}, {'layer': 'fc', 'weights': 1920}]
    """
    if hasattr(layout, "rows") and not isinstance(layout, Mapping):  # act_bench.features.FeatureLayout
        layout = layout.rows
    if isinstance(layout, (str, bytes)) or not isinstance(layout, Iterable):
        raise InvalidInputError(f"{where} must be a list of layers; got {type(layout).__name__}")
    out = []
    for i, item in enumerate(layout):
        if isinstance(item, (tuple, list)) and len(item) in (2, 3):
            name, weights = item[0], item[1]
        else:
            name, weights = _pick(item, _NAME_KEYS), _pick(item, _WEIGHT_KEYS)
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"{where}[{i}] must name its layer (key 'layer'); got {item!r}")
        if isinstance(weights, bool) or not isinstance(weights, numbers.Integral) or weights < 0:
            raise InvalidInputError(f"{where}[{i}] ({name!r}) must give a number of weights >= 0 (key 'weights'); "
                                    f"got {weights!r}")
        out.append({"layer": name, "weights": int(weights)})
    return out


def layout_entries(layers: list[dict[str, Any]], cdf_layout: CdfLayout | str) -> list[dict[str, Any]]:
    """``[{"layer", "weights", "bins"}]`` where ``bins`` is the number of values the layer has in ``fim_cdf``."""
    cdf_layout = CdfLayout(cdf_layout)
    return [{"layer": e["layer"], "weights": e["weights"], "bins": cdf_layout.bins(e["weights"])} for e in layers]


def read_layout_file(path: str | Path) -> list[dict[str, Any]]:
    """Read a layout from a JSON file holding a list of ``{"layer": ..., "weights": ...}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"layout file {str(path)!r} does not exist") from None
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: UnicodeDecodeError, JSONDecodeError, digits
        raise InvalidInputError(f"layout file {str(path)!r} is not valid JSON: "
                                f"{'nested too deeply' if isinstance(exc, RecursionError) else exc}") from None
    return normalize_layout(data, where=f"layout file {str(path)!r}")


def detect_cdf_layout(length: int, layers: list[dict[str, Any]]) -> CdfLayout | None:
    """Which layout gives vectors of ``length`` values for ``layers`` (``None`` if neither)."""
    for cand in (CdfLayout.ACT_BENCH, CdfLayout.UPSTREAM):
        if sum(cand.bins(e["weights"]) for e in layers) == length:
            return cand
    return None

"""Murmuration from Python: the robust aggregation kernels, the chain signer and the node client.

    import murmur
    agg, report = murmur.aggregate(rows, rule="trimmed-mean", beta=0.2)
    agg = murmur.rules.TrimmedMean(beta=0.2)(rows)

Rows: a 2-D float32 numpy array or torch tensor (N x D, C-contiguous), or a list of 1-D ones;
they are read in place (no copy) and the GIL is released while the kernels run. torch in ->
torch out, numpy in -> numpy out. Wrong dtype -> TypeError; wrong shape, a non-contiguous view,
bad weights -> ValueError; a rule that cannot apply -> murmur.AggregationError (a ValueError);
a spec or parameter that does not read -> murmur.SpecError (a ValueError). Messages are the C++
ones.
"""
from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import Any, Dict, Optional, Union

import numpy as np

from . import _murmur
from . import rules
from ._inputs import Rows, flatten_state_dict, load_flat, weights_array
from ._murmur import (AggregationError, Backend, BackendUnavailable, ChainError, ProtocolError,
                      RevertError, RpcError, ServerError, SpecError, TimeoutError, TransportError)
from .chain import Eip712Domain, PrivateKey, sign_update, sign_vote

__version__ = _murmur.__version__

__all__ = [
    "aggregate", "AggregationReport", "Verdict", "rules", "Backend", "backend",
    "AggregationError", "BackendUnavailable", "SpecError", "ProtocolError", "ServerError",
    "TimeoutError", "ChainError", "TransportError", "RpcError", "RevertError", "PrivateKey",
    "Eip712Domain", "sign_update", "sign_vote", "Node",
    "flatten_state_dict", "load_flat",
]


class Verdict(enum.IntEnum):
    """What became of one input row (kernels::Verdict)."""
    KEPT = 0                   # contributed to the aggregate
    REJECTED_NON_FINITE = 1    # had a NaN or Inf: never reached the rule's arithmetic
    REJECTED_BY_RULE = 2       # finite, but the rule left it out (Krum family)


@dataclass
class AggregationReport:
    """Per-row diagnostics of one aggregation, in input row order (kernels::AggregationReport).

    verdicts: int8 codes of Verdict; weights: each row's coefficient in the aggregate when the
    rule is a combination of rows, else NaN; scores: the rule's own score (see rules.hpp);
    distances: ||x_i - aggregate|| (NaN when distances=False or for non-finite rows).
    """
    rule: str
    verdicts: np.ndarray
    weights: np.ndarray
    scores: np.ndarray
    distances: np.ndarray
    passes: int
    finite_rows: int

    @property
    def kept(self) -> np.ndarray:
        """Boolean mask of the rows that contributed."""
        return self.verdicts == Verdict.KEPT


_backends: Dict[str, Backend] = {}
_backends_lock = threading.Lock()


def backend(name: str = "cpu") -> Backend:
    """The process's shared backend called `name`: "cpu" (a thread pool, one thread per core),
    "cuda" (device 0; murmur.BackendUnavailable without one) or "auto" (CUDA when a device
    answers). Calls from several threads on one backend take turns."""
    with _backends_lock:
        if name not in _backends:
            makers = {"cpu": Backend.cpu, "cuda": Backend.cuda, "auto": Backend.default}
            if name not in makers:
                raise ValueError(f"backend must be 'cpu', 'cuda' or 'auto', got {name!r}")
            _backends[name] = makers[name]()
        return _backends[name]


RuleLike = Union[str, "rules.Rule", "rules.Chain", "_murmur.AggregationSpec"]


def _spec(rule: RuleLike, params: Dict[str, Any], distances: bool) -> "_murmur.AggregationSpec":
    if isinstance(rule, str):
        if "(" in rule or "+" in rule:
            if params:
                raise TypeError(f"rule={rule!r} is a full spec: put the parameters in it, not "
                                f"as keywords ({', '.join(params)})")
            chain = rules.parse(rule)
        else:
            chain = rules.Chain([], rules.rule(rule, **params))
        return chain.spec(distances)
    if params:
        raise TypeError(f"keyword parameters ({', '.join(params)}) go with a rule name; "
                        f"{rule!r} already has its own")
    if isinstance(rule, rules.Rule):
        return rule.spec(distances)
    if isinstance(rule, rules.Chain):
        return rule.spec(distances)
    if isinstance(rule, rules.PreAggregation):
        raise TypeError(f"{rule!r} is a pre-aggregation step: chain a rule after it")
    if isinstance(rule, _murmur.AggregationSpec):
        return _murmur.AggregationSpec(rule.pre, rule.rule, distances)
    raise TypeError("rule must be a name ('trimmed-mean'), a spec ('nnm(f=1) + median'), a "
                    f"murmur.rules object or an AggregationSpec, got {type(rule).__name__}")


def aggregate(rows: Any, rule: RuleLike = "weighted-mean", weights: Any = None,
              backend: Optional[Union[str, Backend]] = None, distances: bool = True,
              **params: Any):
    """Aggregates `rows` by `rule` -> (aggregate, AggregationReport).

    rows: N x D float32 (numpy array or torch tensor, C-contiguous) or a list of N 1-D rows,
        read in place. A CUDA tensor is copied to the host first.
    rule: a registry name with its parameters as keywords (rule="multi-krum", f=2, m=5), a full
        spec ("nnm(f=1) + trimmed-mean(beta=0.2)"), or a murmur.rules object / chain.
    weights: N sample counts (FedAvg weights; finite, positive); None: all 1.
    backend: "cpu" (default), "cuda", "auto" or a murmur.Backend.
    distances: measure each row's distance to the aggregate (one more pass).
    The aggregate has the rows' kind: numpy in -> numpy out, torch in -> torch out (same device).
    """
    spec = _spec(rule, params, distances)
    b = globals()["backend"](backend or "cpu") if not isinstance(backend, Backend) else backend
    r = Rows(rows)
    out, report = _murmur.aggregate(b, r.value, weights_array(weights), spec)
    return r.result(out), AggregationReport(**report)


from .node import Node  # noqa: E402  (needs the names above)

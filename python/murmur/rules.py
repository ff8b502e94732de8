"""The aggregation rules and pre-aggregation steps of kernels/include/murmur/kernels/rules.hpp
as small callable objects.

    from murmur.rules import TrimmedMean, Bucketing
    agg = TrimmedMean(beta=0.2)(rows)                      # the aggregate only
    agg, report = TrimmedMean(beta=0.2).aggregate(rows)    # with the per-row report
    robust = Bucketing(s=2) + TrimmedMean(beta=0.2)        # pre-aggregation, then the rule
    robust = Bucketing(s=2)(TrimmedMean(beta=0.2))         # the same chain

Parameters take the C++ struct's field names (TrimmedMean.beta, GeometricMedian.max_iterations,
CenteredClipping.iterations, WeightedMean.clipping) or the rule registry's names (iters, clip);
every value goes through the registry (kernels/include/murmur/kernels/rule_registry.hpp), which
checks it against the parameter's bound and raises murmur.SpecError naming it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import _murmur

# C++ field name -> registry parameter name, where they differ.
_FIELD_TO_PARAMETER = {"max_iterations": "iters", "iterations": "iters", "clipping": "clip"}
# WeightedMean.clipping's C++ enumerator names -> the registry's words.
_CLIPPING_WORDS = {"adaptive": "arc", "none": "none", "fixed": "fixed", "arc": "arc"}


def _registry_parameters(params: Dict[str, Any]) -> Dict[str, Any]:
    out = {}
    for name, value in params.items():
        key = _FIELD_TO_PARAMETER.get(name, name)
        if key in out:
            raise TypeError(f"parameter {key} given twice (as {name} and {key})")
        if key == "clip":
            if isinstance(value, _murmur.Clipping):
                value = value.name
            value = _CLIPPING_WORDS.get(value, value)
        out[key] = value
    return out


class Step:
    """A rule or a pre-aggregation step: its registry name and its C++ struct."""

    name = ""  # the registry's canonical name, as describe() writes it
    _make: Any = None

    def __init__(self, **params: Any):
        self.params = dict(params)
        self.cpp = type(self)._make(self.name, _registry_parameters(params))

    @classmethod
    def _from_cpp(cls, cpp: Any) -> "Step":
        step = cls.__new__(cls)
        step.params = {}
        step.cpp = cpp
        return step

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.cpp == other.cpp  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, str(self)))


class Rule(Step):
    """A robust aggregation rule: call it on rows for the aggregate."""

    _make = staticmethod(_murmur.make_rule)

    def spec(self, distances: bool = True) -> _murmur.AggregationSpec:
        return _murmur.AggregationSpec([], self.cpp, distances)

    def __str__(self) -> str:
        return _murmur.describe_step(self.cpp)

    def __call__(self, rows: Any, weights: Any = None, backend: Any = None) -> Any:
        """The aggregate of `rows` (see murmur.aggregate)."""
        return self.aggregate(rows, weights=weights, backend=backend)[0]

    def aggregate(self, rows: Any, weights: Any = None, backend: Any = None,
                  distances: bool = True):
        """(aggregate, report) of `rows` (see murmur.aggregate)."""
        from . import aggregate
        return aggregate(rows, rule=self, weights=weights, backend=backend, distances=distances)


class PreAggregation(Step):
    """A step that mixes the rows before a rule: chain it with `+` or call it on the rule."""

    _make = staticmethod(_murmur.make_pre_aggregation)

    def __str__(self) -> str:
        return _murmur.describe_step(self.cpp)

    def __add__(self, other: Any) -> "Chain":
        return Chain([self], None) + other

    def __call__(self, rule: Any) -> "Chain":
        if not isinstance(rule, (Rule, Chain)):
            raise TypeError(
                f"{self!r} mixes rows before a rule: call it on a rule, e.g. "
                f"{self!r}(TrimmedMean(beta=0.2)), or chain it: {self!r} + TrimmedMean(beta=0.2)")
        return self + rule


class Chain:
    """Pre-aggregation steps in order, then a rule; callable like a rule once it has one."""

    def __init__(self, pre: List[PreAggregation], rule: Optional[Rule]):
        self.pre = list(pre)
        self.rule = rule

    def __add__(self, other: Any) -> "Chain":
        if self.rule is not None:
            raise TypeError(f"{self!r} already ends with a rule; nothing can follow it")
        if isinstance(other, PreAggregation):
            return Chain(self.pre + [other], None)
        if isinstance(other, Rule):
            return Chain(self.pre, other)
        if isinstance(other, Chain):
            return Chain(self.pre + other.pre, other.rule)
        return NotImplemented

    def spec(self, distances: bool = True) -> _murmur.AggregationSpec:
        if self.rule is None:
            raise TypeError(f"{self!r} has no rule: end the chain with one, e.g. + Median()")
        return _murmur.AggregationSpec([p.cpp for p in self.pre], self.rule.cpp, distances)

    def __str__(self) -> str:
        return " + ".join(str(s) for s in self.pre + ([self.rule] if self.rule else []))

    def __repr__(self) -> str:
        return " + ".join(repr(s) for s in self.pre + ([self.rule] if self.rule else []))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Chain) and self.pre == other.pre and self.rule == other.rule

    def __call__(self, rows: Any, weights: Any = None, backend: Any = None) -> Any:
        return self.aggregate(rows, weights=weights, backend=backend)[0]

    def aggregate(self, rows: Any, weights: Any = None, backend: Any = None,
                  distances: bool = True):
        from . import aggregate
        return aggregate(rows, rule=self, weights=weights, backend=backend, distances=distances)


def _rule(class_name: str, name: str, doc: str) -> type:
    return type(class_name, (Rule,), {"name": name, "__doc__": doc, "__module__": __name__})


def _pre(class_name: str, name: str, doc: str) -> type:
    return type(class_name, (PreAggregation,), {"name": name, "__doc__": doc,
                                                "__module__": __name__})


# One line per rules.hpp struct: class name, registry name, what it computes.
WeightedMean = _rule("WeightedMean", "weighted-mean",
                     "FedAvg: sum w_i clip(x_i) / sum w_i. clipping='none'|'fixed'|'adaptive' "
                     "(ARC), bound (fixed), f (adaptive).")
Median = _rule("Median", "median", "Per coordinate, the median of the rows.")
CoordinateMedian = Median
TrimmedMean = _rule("TrimmedMean", "trimmed-mean",
                    "Per coordinate, the mean without the floor(beta n) smallest and largest.")
MeaMed = _rule("MeaMed", "meamed", "Per coordinate, the mean of the n - f values nearest the median.")
Krum = _rule("Krum", "krum", "The row whose n - f - 2 nearest neighbours are closest (f).")
MultiKrum = _rule("MultiKrum", "multi-krum", "The mean of the m rows with the lowest Krum scores.")
Bulyan = _rule("Bulyan", "bulyan", "Krum selection of n - 2f rows, then a trimmed median (f).")
GeometricMedian = _rule("GeometricMedian", "geometric-median",
                        "Smoothed Weiszfeld (nu, max_iterations, tolerance).")
CenteredClipping = _rule("CenteredClipping", "centered-clipping",
                         "Centered clipping from v = 0 (tau, iterations).")
NearestNeighborMixing = _pre("NearestNeighborMixing", "nnm",
                             "Every row becomes the mean of its n - f nearest rows (f).")
NNM = NearestNeighborMixing
Bucketing = _pre("Bucketing", "bucketing",
                 "Seeded shuffle into buckets of s rows, each replaced by its mean (s, seed).")

_RULE_CLASSES = {c.name: c for c in (WeightedMean, Median, TrimmedMean, MeaMed, Krum, MultiKrum,
                                     Bulyan, GeometricMedian, CenteredClipping)}
_PRE_CLASSES = {c.name: c for c in (NearestNeighborMixing, Bucketing)}
_CPP_TO_CLASS = {getattr(_murmur, cpp): cls for cpp, cls in (
    ("WeightedMean", WeightedMean), ("CoordinateMedian", Median), ("TrimmedMean", TrimmedMean),
    ("MeaMed", MeaMed), ("Krum", Krum), ("MultiKrum", MultiKrum), ("Bulyan", Bulyan),
    ("GeometricMedian", GeometricMedian), ("CenteredClipping", CenteredClipping),
    ("NearestNeighborMixing", NearestNeighborMixing), ("Bucketing", Bucketing))}


def from_spec(spec: _murmur.AggregationSpec) -> Chain:
    """The Python objects of a C++ AggregationSpec (e.g. parse_aggregation's)."""
    pre = [_CPP_TO_CLASS[type(p)]._from_cpp(p) for p in spec.pre]
    return Chain(pre, _CPP_TO_CLASS[type(spec.rule)]._from_cpp(spec.rule))


def parse(text: str) -> Chain:
    """A spec in the registry's grammar, e.g. "nnm(f=1) + trimmed-mean(beta=0.2)"."""
    return from_spec(_murmur.parse_aggregation(text))


def rule(name: str, **params: Any) -> Rule:
    """The rule called `name` (a registry name or alias: "trimmed-mean", "fedavg", ...)."""
    cpp = _murmur.make_rule(name, _registry_parameters(params))
    r = _CPP_TO_CLASS[type(cpp)]._from_cpp(cpp)
    r.params = dict(params)
    return r


def names() -> List[str]:
    """The rules' registry names."""
    return list(_murmur.rule_names())

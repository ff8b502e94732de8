// The rule registry's tables: one entry per rule and pre-aggregation step, in the order of the
// Rule and PreAggregation variants (rules.hpp). Adding a rule: its struct in rules.hpp and the
// Rule variant, its type in RuleEntries (rule_entries.hpp) and its entry here: name, aliases,
// kind, whether the engine reports its coefficients, one line of doc, its parameters (each with
// its bound, and whether describe() writes it at its default), a check across parameters. The
// config, the command line, the benchmarks and the simulator then know it by name.
#include "rule_entries.hpp"

namespace murmur::kernels::registry {
namespace {

constexpr const char* kClipWords[] = {"none", "fixed", "arc"};

Field<WeightedMean> clip_field() {
  return {"clip",
          ParameterType::kWord,
          {},
          {"none", "fixed", "arc"},
          kWhenSet,
          "clipping before the mean: none, a fixed L2 bound, or ARC (adaptive, from f)",
          [](const WeightedMean& s) { return Value(kClipWords[static_cast<int>(s.clipping)]); },
          [](WeightedMean& s, const Value& v) {
            const auto& w = std::get<std::string>(v);
            s.clipping = w == "fixed" ? Clipping::kFixed
                         : w == "arc" ? Clipping::kAdaptive
                                      : Clipping::kNone;
          }};
}

using K = RuleKind;

}  // namespace

const RuleEntries& rule_entries() {
  static const RuleEntries entries{
      Entry<WeightedMean>{
          "weighted-mean",
          {"fedavg"},
          K::kLinear,
          true,
          "FedAvg: the sample-weighted mean, rows optionally clipped first",
          {clip_field(),
           only_when(
               real("bound", &WeightedMean::bound, above(0), kAlways, "the fixed L2 bound"),
               [](const WeightedMean& s) { return s.clipping == Clipping::kFixed; }, "clip=fixed"),
           only_when(
               count("f", &WeightedMean::f, at_least(0), kAlways, "Byzantine rows ARC tolerates"),
               [](const WeightedMean& s) { return s.clipping == Clipping::kAdaptive; },
               "clip=arc")},
          [](const WeightedMean& s) {
            if (s.clipping == Clipping::kFixed && !(s.bound > 0))
              throw SpecError(SpecError::Reason::kOutOfBound, "weighted-mean", "bound",
                              "weighted-mean: clip=fixed needs bound > 0");
          }},
      Entry<CoordinateMedian>{
          "median", {}, K::kCoordinateWise, false, "per coordinate, the median of the rows", {}},
      Entry<TrimmedMean>{"trimmed-mean",
                         {},
                         K::kCoordinateWise,
                         false,
                         "per coordinate, the mean without the floor(beta n) lowest and highest",
                         {real("beta", &TrimmedMean::beta, half_open(0, 0.5), kAlways,
                               "fraction trimmed at each end")}},
      Entry<MeaMed>{"meamed",
                    {},
                    K::kCoordinateWise,
                    false,
                    "per coordinate, the mean of the n - f values closest to the median",
                    {count("f", &MeaMed::f, at_least(0), kAlways, "Byzantine rows tolerated")}},
      Entry<Krum>{"krum",
                  {},
                  K::kSelection,
                  true,
                  "the row closest in sum to its n - f - 2 nearest neighbours",
                  {count("f", &Krum::f, at_least(0), kAlways, "Byzantine rows tolerated")}},
      Entry<MultiKrum>{"multi-krum",
                       {},
                       K::kSelection,
                       true,
                       "the mean of the m rows with the lowest Krum scores",
                       {count("f", &MultiKrum::f, at_least(0), kAlways, "Byzantine rows tolerated"),
                        count("m", &MultiKrum::m, at_least(1), kAlways, "rows averaged")}},
      Entry<Bulyan>{"bulyan",
                    {},
                    K::kSelection,
                    false,
                    "n - 2f rows by iterated Krum, then per coordinate MeaMed of n - 4f values",
                    {count("f", &Bulyan::f, at_least(0), kAlways, "Byzantine rows tolerated")}},
      Entry<GeometricMedian>{
          "geometric-median",
          {},
          K::kLinear,
          true,
          "smoothed Weiszfeld (RFA)",
          {real("nu", &GeometricMedian::nu, above(0), kAlways, "smoothing of the distances"),
           count("iters", &GeometricMedian::max_iterations, at_least(1), kAlways,
                 "most Weiszfeld iterations"),
           real("tolerance", &GeometricMedian::tolerance, at_least(0), kWhenSet,
                "stop when the objective changes by less (relative)")}},
      Entry<CenteredClipping>{
          "centered-clipping",
          {},
          K::kLinear,
          true,
          "centered clipping from v = 0",
          {real("tau", &CenteredClipping::tau, above(0), kAlways, "clipping radius around v"),
           count("iters", &CenteredClipping::iterations, at_least(1), kAlways, "iterations")}},
  };
  return entries;
}

const PreEntries& pre_entries() {
  static const PreEntries entries{
      Entry<NearestNeighborMixing>{
          "nnm",
          {},
          K::kLinear,
          false,
          "nearest-neighbour mixing: each row becomes the mean of its n - f nearest",
          {count("f", &NearestNeighborMixing::f, at_least(0), kAlways,
                 "Byzantine rows tolerated")}},
      Entry<Bucketing>{
          "bucketing",
          {},
          K::kLinear,
          false,
          "rows shuffled (seeded) into buckets of s, each bucket its weighted mean",
          {count("s", &Bucketing::s, at_least(1), kAlways, "rows per bucket"),
           count("seed", &Bucketing::seed, at_least(0), kAlways, "the shuffle's seed")}},
  };
  return entries;
}

}  // namespace murmur::kernels::registry

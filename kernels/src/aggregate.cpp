// The aggregation engine: validation pass, pre-aggregation, the rule, diagnostics. Row-sized
// work goes to the backend primitives (row_stats, gram, weighted_sum, coordinate_reduce,
// squared_distances); everything N-sized is host math in robust_math.cpp.
#include "murmur/kernels/aggregate.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "mixed_row_source.hpp"
#include "murmur/kernels/coordinatewise.hpp"
#include "murmur/kernels/gram.hpp"
#include "murmur/kernels/row_stats.hpp"
#include "murmur/kernels/weighted_sum.hpp"
#include "robust_math.hpp"

namespace murmur::kernels {
namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

[[noreturn]] void fail(const std::string& rule, const std::string& why) {
  throw AggregationError(rule + ": " + why);
}

void require_krum_size(const std::string& rule, std::size_t n, std::size_t f, std::size_t minimum) {
  if (f > 0 && n < minimum)
    fail(rule, std::to_string(n) + " finite rows, but f = " + std::to_string(f) +
                   " needs at least " + std::to_string(minimum) +
                   "; lower f or wait for more updates");
}

/// What the rule decided about the rows it saw (the mixed rows, if any).
struct RuleOutcome {
  bool linear = true;         // the aggregate is sum coef_i y_i
  std::vector<double> coef;   // over y rows, when linear
  std::vector<double> score;  // over y rows
  std::vector<bool> kept;     // over y rows
};

/// The coordinate-wise reduction `rule` makes of k rows when it is one and its parameters are
/// valid (the rule's own branch below reports them otherwise).
std::optional<ColumnReduce> column_reduce_of(const Rule& rule, std::size_t k) {
  if (std::holds_alternative<CoordinateMedian>(rule))
    return ColumnReduce{ColumnRule::kMedian, 0, 0};
  if (const auto* r = std::get_if<TrimmedMean>(&rule)) {
    if (!(r->beta >= 0 && r->beta < 0.5)) return std::nullopt;
    const int trim = static_cast<int>(std::floor(r->beta * static_cast<double>(k)));
    if (2 * static_cast<std::size_t>(trim) >= k) return std::nullopt;
    return ColumnReduce{ColumnRule::kTrimmedMean, trim, 0};
  }
  if (const auto* r = std::get_if<MeaMed>(&rule)) {
    if (r->f >= k) return std::nullopt;
    return ColumnReduce{ColumnRule::kMeaMed, 0, static_cast<int>(k - r->f)};
  }
  return std::nullopt;
}

/// Whether the first pass over the rows is the Gram matrix: the rules computed from it with
/// nothing before them, or NNM first. Squared norms then come from its diagonal.
bool gram_first(const AggregationSpec& spec) {
  if (!spec.pre.empty()) return std::holds_alternative<NearestNeighborMixing>(spec.pre.front());
  return std::holds_alternative<Krum>(spec.rule) || std::holds_alternative<MultiKrum>(spec.rule) ||
         std::holds_alternative<Bulyan>(spec.rule) ||
         std::holds_alternative<GeometricMedian>(spec.rule) ||
         std::holds_alternative<CenteredClipping>(spec.rule);
}

bool same_reduce(ColumnReduce a, ColumnReduce b) {
  return a.rule == b.rule && a.trim == b.trim && a.keep == b.keep;
}

/// Finiteness flags of every row over every range: a row is finite when no range saw a NaN or
/// Inf in it (the ranges' counts of non-finite flags sum to 0). `extra` (this range's partial
/// sums, e.g. a Gram matrix or norms) rides in the same reduction, summed in place.
std::vector<bool> reduce_finite(RangeReducer* reducer, const std::vector<bool>& finite,
                                std::vector<double>& extra) {
  if (reducer == nullptr) return finite;
  const std::size_t n = finite.size(), e = extra.size();
  extra.resize(e + n);
  for (std::size_t i = 0; i < n; ++i) extra[e + i] = finite[i] ? 0.0 : 1.0;
  reducer->sum(extra);
  std::vector<bool> all(n);
  for (std::size_t i = 0; i < n; ++i) all[i] = extra[e + i] == 0.0;
  extra.resize(e);
  return all;
}

std::vector<bool> reduce_finite(RangeReducer* reducer, const std::vector<bool>& finite) {
  std::vector<double> none;
  return reduce_finite(reducer, finite, none);
}

/// Per-row sums over every range (norms, distances): summed in place when sharded.
std::vector<double> reduce_sums(RangeReducer* reducer, std::vector<double> partial) {
  if (reducer != nullptr) reducer->sum(partial);
  return partial;
}

AggregationReport aggregate_impl(Backend& backend, const RowSource& source,
                                 std::span<const double> sample_counts, const AggregationSpec& spec,
                                 RangeReducer* reducer, std::span<float> out);

}  // namespace

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::kKept: return "kept";
    case Verdict::kRejectedNonFinite: return "rejected: non-finite";
    case Verdict::kRejectedByRule: return "rejected by rule";
  }
  return "?";
}

AggregationReport aggregate(Backend& backend, const RowSource& source,
                            std::span<const double> sample_counts, const AggregationSpec& spec,
                            std::span<float> out) {
  return aggregate_impl(backend, source, sample_counts, spec, nullptr, out);
}

AggregationReport aggregate_range(Backend& backend, const RowSource& range,
                                  std::span<const double> sample_counts,
                                  const AggregationSpec& spec, RangeReducer& reducer,
                                  std::span<float> out) {
  return aggregate_impl(backend, range, sample_counts, spec, &reducer, out);
}

namespace {

// One engine for both: with a reducer, `source` is one coordinate range of the rows and every
// statistic that spans all coordinates (finiteness, norms, the Gram matrix, distances) is this
// range's partial sum handed to reducer->sum before use.
AggregationReport aggregate_impl(Backend& backend, const RowSource& source,
                                 std::span<const double> sample_counts, const AggregationSpec& spec,
                                 RangeReducer* reducer, std::span<float> out) {
  AggregationReport report;
  report.rule = describe(spec);
  const std::string& name = report.rule;
  const std::size_t n = source.rows();
  if (sample_counts.size() != n)
    fail(name, std::to_string(sample_counts.size()) + " sample counts for " + std::to_string(n) +
                   " rows");
  if (out.size() != source.cols())
    fail(name, "output has " + std::to_string(out.size()) + " coordinates, rows have " +
                   std::to_string(source.cols()));
  for (std::size_t i = 0; i < n; ++i)
    if (!(std::isfinite(sample_counts[i]) && sample_counts[i] > 0))
      fail(name, "sample count of row " + std::to_string(i) + " must be finite and positive");
  report.rows.resize(n);

  // 1. Validation: rows with NaN or Inf never reach the rule's arithmetic. Where the rule's
  // first pass reads the rows as they are, the check rides on it: the unclipped weighted
  // mean's sum (weighted_sum_checked), the Gram matrix (gram_checked) or the coordinate-wise
  // reduction (coordinate_reduce_checked) over every row, kept when every row is finite, redone
  // over the finite ones otherwise. Either way the result has the bits of the two-pass path.
  std::vector<RowStats> stats;
  std::vector<double> summed;           // coefficients of the sum already in `out`
  std::optional<ColumnReduce> reduced;  // the reduction already in `out`
  std::vector<double> full_gram;        // the Gram matrix of every row, when all are finite
  if (gram_first(spec)) {
    std::vector<bool> finite;
    std::vector<double> g = gram_checked(backend, source, finite);
    finite = reduce_finite(reducer, finite, g);
    stats.resize(n);
    for (std::size_t i = 0; i < n; ++i) stats[i] = {finite[i], kNaN};  // norms: the Gram's
    if (std::all_of(finite.begin(), finite.end(), [](bool f) { return f; }))
      full_gram = std::move(g);
  } else if (spec.pre.empty()) {
    if (const auto* wm = std::get_if<WeightedMean>(&spec.rule);
        wm != nullptr && wm->clipping == Clipping::kNone) {
      // The coefficients the rule computes below when every row is finite.
      const double total = std::accumulate(sample_counts.begin(), sample_counts.end(), 0.0);
      summed.resize(n);
      for (std::size_t i = 0; i < n; ++i) summed[i] = sample_counts[i] * 1.0 / total;
      const std::vector<bool> finite =
          reduce_finite(reducer, weighted_sum_checked(backend, source, summed, out));
      stats.resize(n);
      for (std::size_t i = 0; i < n; ++i) stats[i] = {finite[i], kNaN};  // no clipping: unused
    } else if (const std::optional<ColumnReduce> cr = column_reduce_of(spec.rule, n)) {
      const std::vector<bool> finite =
          reduce_finite(reducer, coordinate_reduce_checked(backend, source, *cr, out));
      stats.resize(n);
      for (std::size_t i = 0; i < n; ++i) stats[i] = {finite[i], kNaN};  // norms unused here
      if (std::all_of(finite.begin(), finite.end(), [](bool f) { return f; })) reduced = cr;
    }
  }
  if (stats.empty()) {
    stats = row_stats(backend, source);
    if (reducer != nullptr) {
      std::vector<bool> finite(n);
      std::vector<double> norms(n);
      for (std::size_t i = 0; i < n; ++i)
        finite[i] = stats[i].finite, norms[i] = stats[i].squared_norm;
      finite = reduce_finite(reducer, finite, norms);
      for (std::size_t i = 0; i < n; ++i) stats[i] = {finite[i], norms[i]};
    }
  }
  report.passes = 1;
  std::vector<std::size_t> finite;
  for (std::size_t i = 0; i < n; ++i) {
    if (stats[i].finite)
      finite.push_back(i);
    else
      report.rows[i].verdict = Verdict::kRejectedNonFinite;
  }
  report.finite_rows = finite.size();
  if (finite.empty())
    fail(name, "all " + std::to_string(n) + " rows contain NaN or Inf; nothing to aggregate");
  const SubsetRowSource rows(source, finite);
  const std::size_t m = finite.size();
  std::vector<double> weights(m), norms2(m);
  for (std::size_t t = 0; t < m; ++t) {
    weights[t] = sample_counts[finite[t]];
    norms2[t] = stats[finite[t]].squared_norm;
  }

  std::optional<robust::Gram> gram;  // of the finite rows, computed at most once
  if (!full_gram.empty()) gram = robust::Gram{m, std::move(full_gram)};  // step 1 made it
  const auto base_gram = [&]() -> const robust::Gram& {
    if (!gram) {
      gram = robust::Gram{m, reduce_sums(reducer, kernels::gram(backend, rows))};
      ++report.passes;
    }
    return *gram;
  };

  // 2. Pre-aggregation: a mixing of the finite rows, composed step by step.
  std::optional<robust::Mixing> mixing;
  std::vector<double> mixed_weights = weights;
  const auto current_gram = [&]() {
    return mixing ? robust::mixed_gram(base_gram(), *mixing) : base_gram();
  };
  for (const auto& step : spec.pre) {
    const std::size_t k = mixing ? mixing->rows.size() : m;
    robust::Mixing next = std::visit(
        Overloaded{[&](const NearestNeighborMixing& p) {
                     if (p.f >= k)
                       fail(name, "NNM with f = " + std::to_string(p.f) +
                                      " needs more than f rows, has " + std::to_string(k));
                     return robust::nearest_neighbor_mixing(current_gram(), p.f);
                   },
                   [&](const Bucketing& p) {
                     if (p.s == 0) fail(name, "bucket size must be at least 1");
                     std::vector<double> bucket_weights;
                     auto b = robust::bucketing(mixed_weights, p.s, p.seed, bucket_weights);
                     mixed_weights = bucket_weights;
                     return b;
                   }},
        step);
    mixing = mixing ? robust::compose(next, *mixing) : std::move(next);
  }
  std::optional<MixedRowSource> mixed_rows;
  if (mixing) mixed_rows.emplace(rows, *mixing);
  const RowSource& y = mixed_rows ? static_cast<const RowSource&>(*mixed_rows) : rows;
  const std::size_t k = y.rows();

  // 3. The rule.
  RuleOutcome rule{true, std::vector<double>(k, 0.0), std::vector<double>(k, kNaN),
                   std::vector<bool>(k, true)};
  const auto reduce = [&](const RowSource& r, ColumnReduce cr) {
    rule.linear = false;
    if (reduced && &r == &y && m == n && same_reduce(*reduced, cr)) return;  // done in step 1
    coordinate_reduce(backend, r, cr, out);
    ++report.passes;
  };
  std::visit(
      Overloaded{
          [&](const WeightedMean& r) {
            std::vector<double> y_norms2 = norms2;
            if (mixing && r.clipping != Clipping::kNone) {
              const robust::Gram g = current_gram();
              for (std::size_t i = 0; i < k; ++i) y_norms2[i] = g.at(i, i);
            }
            y_norms2.resize(k);
            double bound = std::numeric_limits<double>::infinity();
            if (r.clipping == Clipping::kFixed) {
              if (!(r.bound > 0)) fail(name, "clipping bound must be positive");
              bound = r.bound;
            } else if (r.clipping == Clipping::kAdaptive) {
              bound = robust::adaptive_clip_bound(y_norms2, r.f);
            }
            const double total = std::accumulate(mixed_weights.begin(), mixed_weights.end(), 0.0);
            for (std::size_t i = 0; i < k; ++i) {
              const double norm = std::sqrt(y_norms2[i]);
              const double c = norm > bound ? bound / norm : 1.0;
              rule.score[i] = c;
              rule.coef[i] = mixed_weights[i] * c / total;
            }
          },
          [&](const CoordinateMedian&) {
            reduce(y, {ColumnRule::kMedian, 0, 0});
          },
          [&](const TrimmedMean& r) {
            if (!(r.beta >= 0 && r.beta < 0.5)) fail(name, "beta must be in [0, 0.5)");
            const int trim = static_cast<int>(std::floor(r.beta * static_cast<double>(k)));
            if (2 * static_cast<std::size_t>(trim) >= k)
              fail(name, "trims every row of " + std::to_string(k));
            reduce(y, {ColumnRule::kTrimmedMean, trim, 0});
          },
          [&](const MeaMed& r) {
            if (r.f >= k)
              fail(name, "f = " + std::to_string(r.f) + " leaves no row of " + std::to_string(k));
            reduce(y, {ColumnRule::kMeaMed, 0, static_cast<int>(k - r.f)});
          },
          [&](const Krum& r) {
            require_krum_size(name, k, r.f, 2 * r.f + 3);
            std::vector<std::size_t> all(k);
            std::iota(all.begin(), all.end(), 0);
            rule.score = robust::krum_scores(current_gram(), all, k >= r.f + 2 ? k - r.f - 2 : 0);
            const std::size_t best = robust::lowest(rule.score, 1).front();
            std::fill(rule.kept.begin(), rule.kept.end(), false);
            rule.kept[best] = true;
            rule.coef[best] = 1.0;
          },
          [&](const MultiKrum& r) {
            require_krum_size(name, k, r.f, 2 * r.f + 3);
            if (r.m == 0 || r.m > k) fail(name, "m must be in [1, " + std::to_string(k) + "]");
            std::vector<std::size_t> all(k);
            std::iota(all.begin(), all.end(), 0);
            rule.score = robust::krum_scores(current_gram(), all, k >= r.f + 2 ? k - r.f - 2 : 0);
            std::fill(rule.kept.begin(), rule.kept.end(), false);
            for (std::size_t i : robust::lowest(rule.score, r.m)) {
              rule.kept[i] = true;
              rule.coef[i] = 1.0 / static_cast<double>(r.m);
            }
          },
          [&](const Bulyan& r) {
            require_krum_size(name, k, r.f, 4 * r.f + 3);
            const robust::Gram g = current_gram();
            std::vector<std::size_t> all(k);
            std::iota(all.begin(), all.end(), 0);
            rule.score = robust::krum_scores(g, all, k >= r.f + 2 ? k - r.f - 2 : 0);
            const std::size_t theta = k - 2 * r.f;
            std::vector<std::size_t> chosen = robust::bulyan_select(g, r.f, theta);
            std::fill(rule.kept.begin(), rule.kept.end(), false);
            for (std::size_t i : chosen) rule.kept[i] = true;
            const SubsetRowSource chosen_rows(y, std::move(chosen));
            reduce(chosen_rows, {ColumnRule::kMeaMed, 0, static_cast<int>(theta - 2 * r.f)});
          },
          [&](const GeometricMedian& r) {
            if (!(r.nu > 0)) fail(name, "nu must be positive");
            rule.coef = robust::weiszfeld(current_gram(), mixed_weights, r.nu, r.max_iterations,
                                          r.tolerance, rule.score);
          },
          [&](const CenteredClipping& r) {
            if (!(r.tau > 0)) fail(name, "tau must be positive");
            rule.coef = robust::centered_clipping(current_gram(), r.tau, r.iterations, rule.score);
          }},
      spec.rule);

  std::vector<double> coef;  // over the finite rows, when linear
  if (rule.linear) {
    coef = mixing ? robust::unmix(*mixing, rule.coef) : rule.coef;
    if (!(m == n && coef == summed)) {  // not already summed in step 1
      // Rows with coefficient 0 (those Krum and Multi-Krum drop) are left out: fma(0, x, acc)
      // is acc for finite x, and acc is never -0, so the bits are those of the full sum.
      std::vector<std::size_t> used;
      std::vector<double> used_coef;
      for (std::size_t t = 0; t < m; ++t)
        if (coef[t] != 0.0) used.push_back(t), used_coef.push_back(coef[t]);
      if (used.size() == m) {
        weighted_sum(backend, rows, coef, out);
      } else {
        const SubsetRowSource used_rows(rows, std::move(used));
        weighted_sum(backend, used_rows, used_coef, out);
      }
      ++report.passes;
    }
  }

  // 4. Diagnostics: every finite row's distance to the aggregate, and what the rule said.
  std::vector<double> distance(m, kNaN);
  if (spec.distances) {
    const std::vector<double> d2 = reduce_sums(reducer, squared_distances(backend, rows, out));
    ++report.passes;
    for (std::size_t t = 0; t < m; ++t) distance[t] = std::sqrt(d2[t]);
  }
  std::vector<double> sorted = distance;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(m / 2),
                   sorted.end());
  const double median_distance = sorted[m / 2];
  for (std::size_t t = 0; t < m; ++t) {
    RowDiagnostic& diag = report.rows[finite[t]];
    diag.distance = distance[t];
    // The mixed row that holds most of this row speaks for it (itself, without mixing).
    std::size_t owner = t;
    bool kept = rule.kept.size() > t && rule.kept[t];
    if (mixing) {
      double best = -1.0;
      kept = false;
      for (std::size_t r = 0; r < k; ++r)
        for (const auto& term : mixing->rows[r])
          if (term.row == t) {
            kept = kept || rule.kept[r];
            if (term.coef > best) best = term.coef, owner = r;
          }
    }
    if (rule.linear) {
      diag.weight = coef[t];
      kept = kept && coef[t] != 0.0;
      diag.score = rule.score[owner];
    } else {
      diag.score = std::isnan(rule.score[owner])
                       ? (median_distance > 0 ? distance[t] / median_distance
                                              : (std::isnan(median_distance) ? kNaN : 0.0))
                       : rule.score[owner];
    }
    diag.verdict = kept ? Verdict::kKept : Verdict::kRejectedByRule;
  }
  return report;
}

}  // namespace
}  // namespace murmur::kernels

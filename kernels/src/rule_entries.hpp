#pragma once
// The registry's building blocks, private to kernels/src: a parameter (Field: a member of the
// step's struct with its name, type, bound and default) and a step (Entry: names, kind, fields),
// and the two tables rule_registry.cpp fills. rule_spec.cpp's generic code describes, parses and
// builds every step from its entry.
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include "murmur/kernels/rule_registry.hpp"

namespace murmur::kernels::registry {

using Value = ParameterValue;
constexpr double kInf = std::numeric_limits<double>::infinity();

/// A parameter's bound: lo <= x (lo < x when lo_open), x <= hi (x < hi when hi_open).
struct Range {
  double lo = 0;
  bool lo_open = false;
  double hi = kInf;
  bool hi_open = false;
  bool contains(double x) const {
    return (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi);
  }
};
inline Range at_least(double lo) {
  return {lo, false, kInf, false};
}
inline Range above(double lo) {
  return {lo, true, kInf, false};
}
inline Range half_open(double lo, double hi) {
  return {lo, false, hi, true};
}

/// Reals with the fewest significant digits, from 6 (what an ostream writes by default), that
/// read back to the same double.
std::string format_real(double x);
/// A value as describe() writes it.
std::string format(const Value& v);
/// A bound as the catalog and the errors write it: "[0, 0.5)", ">= 1", "> 0".
std::string format_range(const Range& r, ParameterType type);

/// A parameter: a field of the step's struct S, with how to read and write it.
template <class S>
struct Field {
  std::string_view name;
  ParameterType type;
  Range range;                          // kCount, kReal
  std::vector<std::string_view> words;  // kWord
  bool shown;                           // describe() writes it even at its default
  std::string_view doc;
  std::function<Value(const S&)> get;  // uint64 (kCount), double (kReal), string (kWord)
  std::function<void(S&, const Value&)> set;
  std::function<bool(const S&)> applies = {};  // read only when this holds (empty: always)
  std::string_view applies_when = {};          // ... said in words, e.g. "clip=arc"
};

enum Show : bool { kWhenSet = false, kAlways = true };

template <class S, class T>
Field<S> count(std::string_view name, T S::*m, Range r, Show shown, std::string_view doc) {
  return {name,
          ParameterType::kCount,
          r,
          {},
          shown,
          doc,
          [m](const S& s) { return Value(static_cast<std::uint64_t>(s.*m)); },
          [m](S& s, const Value& v) { s.*m = static_cast<T>(std::get<std::uint64_t>(v)); }};
}

template <class S>
Field<S> real(std::string_view name, double S::*m, Range r, Show shown, std::string_view doc) {
  return {name,
          ParameterType::kReal,
          r,
          {},
          shown,
          doc,
          [m](const S& s) { return Value(s.*m); },
          [m](S& s, const Value& v) { s.*m = std::get<double>(v); }};
}

template <class S>
Field<S> only_when(Field<S> f, std::type_identity_t<std::function<bool(const S&)>> applies,
                   std::string_view when) {
  f.applies = std::move(applies);
  f.applies_when = when;
  return f;
}

/// A rule or step: its names, kind, fields and a check across fields.
template <class S>
struct Entry {
  using Step = S;
  std::string_view name;
  std::vector<std::string_view> aliases;
  RuleKind kind;
  bool coefficients;
  std::string_view doc;
  std::vector<Field<S>> fields;
  std::function<void(const S&)> check = {};  // throws SpecError
};

// One Entry per alternative, in the variants' order: a rule without its entry does not compile.
using RuleEntries = std::tuple<Entry<WeightedMean>, Entry<CoordinateMedian>, Entry<TrimmedMean>,
                               Entry<MeaMed>, Entry<Krum>, Entry<MultiKrum>, Entry<Bulyan>,
                               Entry<GeometricMedian>, Entry<CenteredClipping>>;
using PreEntries = std::tuple<Entry<NearestNeighborMixing>, Entry<Bucketing>>;

template <class V, class T>
struct EntriesFollow;
template <class... S>
struct EntriesFollow<std::variant<S...>, std::tuple<Entry<S>...>> : std::true_type {};
static_assert(EntriesFollow<Rule, RuleEntries>::value, "one entry per Rule alternative, in order");
static_assert(EntriesFollow<PreAggregation, PreEntries>::value,
              "one entry per PreAggregation alternative, in order");

/// The tables (rule_registry.cpp).
const RuleEntries& rule_entries();
const PreEntries& pre_entries();

}  // namespace murmur::kernels::registry

#pragma once
// The rule registry: every aggregation rule and pre-aggregation step of rules.hpp by name, its
// parameters (name, type, default, bound) and its kind; the textual spec that describe() writes
// and parse_aggregation() reads back; specs built from a key/value table (murmurd's
// [aggregation], `murmur simulate`'s options). Configuration, command line, benchmarks and
// simulations all go through it: a rule registered here is reachable from each of them.
//
// Grammar (whitespace between tokens is free; describe() writes the canonical form):
//   spec  := step { "+" step }          the last step is the rule, those before it are
//                                       pre-aggregation steps applied in order
//   step  := name [ "(" [ param { "," param } ] ")" ]
//   param := name "=" value             value: an integer, a real (1e-06), or a word (arc)
// e.g. "multi-krum(f=2, m=5)", "nnm(f=1) + trimmed-mean(beta=0.2)", "weighted-mean(clip=arc, f=2)".
// describe() writes a parameter when it differs from the default (and some always, as they were
// written before the registry); reals with the fewest digits (from 6) that read back exactly, so
// parse_aggregation(describe(s)) == s for every valid spec s.
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "murmur/kernels/rules.hpp"

namespace murmur::kernels {

/// What a rule does to the rows, which decides how its diagnostics read.
enum class RuleKind {
  /// sum_i coef_i x_i over every row, each row scaled by a factor (its score, 1: untouched):
  /// weighted mean (clipped or not), geometric median, centered clipping.
  kLinear,
  /// Per coordinate, from the sorted column (median, trimmed mean, MeaMed): rows have no
  /// coefficient; a row's score is its distance to the aggregate over the median distance.
  kCoordinateWise,
  /// Rows kept or rejected whole (Krum, Multi-Krum, Bulyan); a row's score is its Krum score.
  kSelection,
};
const char* to_string(RuleKind kind);

enum class ParameterType { kCount, kReal, kWord };
const char* to_string(ParameterType type);

/// One parameter of a rule or step: the field of its struct in rules.hpp.
struct ParameterInfo {
  std::string name;  ///< as written in a spec and in murmurd's [aggregation]
  ParameterType type;
  std::string default_value;  ///< as describe() writes it (the struct's default)
  std::string bound;          ///< e.g. "[0, 0.5)", ">= 1", "none | fixed | arc"
  std::string doc;
};

/// One rule (a Rule alternative) or pre-aggregation step (a PreAggregation alternative).
struct StepInfo {
  std::string name;                   ///< canonical, as describe() writes it
  std::vector<std::string> aliases;   ///< other names parse accepts, e.g. "fedavg"
  RuleKind kind = RuleKind::kLinear;  ///< rules only
  /// Rules only: the engine reports each kept row's coefficient as its weight (the aggregate is
  /// sum_i weight_i x_i), so leave-one-out means can use the rule's own weights.
  bool coefficients = false;
  std::string doc;  ///< one line
  std::vector<ParameterInfo> parameters;
};

/// Every rule, in the order of the Rule variant; every pre-aggregation step, in the order of
/// PreAggregation.
const std::vector<StepInfo>& rule_catalog();
const std::vector<StepInfo>& pre_aggregation_catalog();
const StepInfo& info(const Rule& rule);
const StepInfo& info(const PreAggregation& step);
/// The rule's kind; flagging and contribution weights ask this rather than the rule's type.
inline RuleKind kind(const Rule& rule) {
  return info(rule).kind;
}
/// The registered names for help texts: "weighted-mean (fedavg), median, ..." / "nnm, bucketing".
std::string rule_names();
std::string pre_aggregation_names();
/// Every rule and step with its kind and parameters (name, default, bound, doc), one per line.
std::string catalog_text();
/// True when some rule or step has a parameter called `name`.
bool is_parameter(std::string_view name);

/// A spec or parameter that does not read; what() names the step, the parameter and its bound.
class SpecError : public std::invalid_argument {
 public:
  enum class Reason {
    kSyntax,            ///< the text does not follow the grammar
    kUnknownName,       ///< no rule or step of that name
    kMisplaced,         ///< a rule before the last step, or a pre-aggregation step last
    kUnknownParameter,  ///< the step has no parameter of that name
    kNotApplicable,     ///< the step has it, but does not read it here (f without clip=arc)
    kWrongType,         ///< a real for a count, a word for a number, ...
    kOutOfBound,        ///< outside the parameter's bound
  };
  SpecError(Reason reason, std::string step, std::string parameter, const std::string& message)
      : std::invalid_argument(message),
        reason_(reason),
        step_(std::move(step)),
        parameter_(std::move(parameter)) {}
  Reason reason() const { return reason_; }
  const std::string& step() const { return step_; }            ///< "" when unknown
  const std::string& parameter() const { return parameter_; }  ///< "" when none

 private:
  Reason reason_;
  std::string step_, parameter_;
};

/// A parameter's value as a configuration holds it: an integer (TOML, or a spec's "-3"), an
/// unsigned integer (a spec's "3"), a real, or a word.
using ParameterValue = std::variant<std::int64_t, std::uint64_t, double, std::string>;
using Parameters = std::map<std::string, ParameterValue, std::less<>>;

/// What make_* do with a parameter the step does not read.
enum class Unread {
  kRefuse,  ///< SpecError (kUnknownParameter / kNotApplicable): the table is the step's own
  kIgnore,  ///< skip it: the table is shared by several steps (murmurd's [aggregation])
};

/// The rule or step called `name` (or an alias), its parameters from `parameters` and the
/// struct's defaults for the others. Throws SpecError naming the parameter and its bound.
Rule make_rule(std::string_view name, const Parameters& parameters,
               Unread unread = Unread::kRefuse);
PreAggregation make_pre_aggregation(std::string_view name, const Parameters& parameters,
                                    Unread unread = Unread::kRefuse);

/// Reads a spec written in the grammar above (describe()'s output, or by hand). The result's
/// `distances` is true (it is an engine option, not part of the text). Throws SpecError.
AggregationSpec parse_aggregation(std::string_view text);

/// murmurd's [aggregation] keys (and `murmur simulate`'s options): a table shared by the rule and
/// its pre-aggregation steps.
struct AggregationTable {
  /// A rule's name, whose parameters come from `parameters`; or a full spec ("nnm(f=1) +
  /// trimmed-mean(beta=0.2)"), and then nothing below may be set.
  std::string rule = "weighted-mean";
  /// Rule parameters by name (f, beta, m, tau, iters, nu, tolerance, clip, bound): the rule
  /// reads those it has and ignores the others (one table serves every rule); a name no rule
  /// has is refused. centered-clipping reads iters = 10 when the table has none (murmurd's
  /// count before iters was a key).
  Parameters parameters;
  bool nnm = false;               ///< nearest-neighbour mixing first, with the table's f
  std::uint64_t bucket = 1;       ///< > 1: then bucketing into buckets of this many rows
  std::uint64_t bucket_seed = 0;  ///< the bucketing shuffle's seed
};

/// The spec the table says: nnm(f), then bucketing(s=bucket, seed=bucket_seed), then the rule.
/// Throws SpecError; its parameter() is the table's key ("bucket", "beta", "rule", ...).
AggregationSpec make_aggregation(const AggregationTable& table);

/// One step as describe() writes it, e.g. "trimmed-mean(beta=0.2)", "nnm(f=1)".
std::string describe(const Rule& rule);
std::string describe(const PreAggregation& step);

}  // namespace murmur::kernels

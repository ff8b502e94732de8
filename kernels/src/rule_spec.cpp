// The rule registry's generic code: describe, parse and build every rule and pre-aggregation step
// from its entry (rule_entries.hpp, the tables in rule_registry.cpp), the grammar's reader, the
// catalog for help texts, and the shared [aggregation] table.
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <utility>

#include "rule_entries.hpp"

namespace murmur::kernels {
namespace registry {

/// Reals with the fewest significant digits, from 6 (what an ostream writes by default), that
/// read back to the same double.
std::string format_real(double x) {
  char buf[40];
  for (int digits = 6; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

std::string format(const Value& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>)
          return x;
        else if constexpr (std::is_same_v<T, double>)
          return format_real(x);
        else
          return std::to_string(x);
      },
      v);
}

std::string format_range(const Range& r, ParameterType type) {
  const auto num = [&](double x) {
    return type == ParameterType::kCount ? std::to_string(static_cast<std::uint64_t>(x))
                                         : format_real(x);
  };
  if (r.hi == kInf) return (r.lo_open ? "> " : ">= ") + num(r.lo);
  return (r.lo_open ? "(" : "[") + num(r.lo) + ", " + num(r.hi) + (r.hi_open ? ")" : "]");
}

}  // namespace registry

namespace {

using namespace registry;

// ---- Generic code over the entries. -----------------------------------------------------------

template <class S>
const Entry<S>& entry_of() {
  if constexpr (std::is_constructible_v<Rule, S>)
    return std::get<Entry<S>>(rule_entries());
  else
    return std::get<Entry<S>>(pre_entries());
}

template <class S>
std::string describe_step(const S& s) {
  const Entry<S>& e = entry_of<S>();
  const S defaults{};
  std::string params;
  for (const auto& f : e.fields) {
    if (f.applies && !f.applies(s)) continue;
    const Value v = f.get(s);
    if (!f.shown && v == f.get(defaults)) continue;
    params += (params.empty() ? "" : ", ") + std::string(f.name) + "=" + format(v);
  }
  return std::string(e.name) + (params.empty() ? "" : "(" + params + ")");
}

[[noreturn]] void refuse(SpecError::Reason why, std::string_view step, std::string_view param,
                         const std::string& message) {
  throw SpecError(why, std::string(step), std::string(param), message);
}

/// `v` as the field's type, within its bound.
template <class S>
Value convert(std::string_view step, const Field<S>& f, const Value& v) {
  const std::string where = std::string(step) + ": " + std::string(f.name);
  const std::string bound =
      f.type == ParameterType::kWord
          ? ""
          : " (" + std::string(f.name) + " " + format_range(f.range, f.type) + ")";
  const auto out_of_bound = [&]() {
    return SpecError(SpecError::Reason::kOutOfBound, std::string(step), std::string(f.name),
                     where + " = " + format(v) + " is out of bounds" + bound);
  };
  const auto wrong_type = [&](const std::string& wanted) {
    return SpecError(SpecError::Reason::kWrongType, std::string(step), std::string(f.name),
                     where + " = " + format(v) + " is not " + wanted + bound);
  };
  switch (f.type) {
    case ParameterType::kCount: {
      std::uint64_t x = 0;
      if (const auto* u = std::get_if<std::uint64_t>(&v)) {
        x = *u;
      } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
        if (*i < 0) throw out_of_bound();
        x = static_cast<std::uint64_t>(*i);
      } else {
        throw wrong_type("an integer");
      }
      if (!f.range.contains(static_cast<double>(x))) throw out_of_bound();
      return x;
    }
    case ParameterType::kReal: {
      double x = 0;
      if (const auto* d = std::get_if<double>(&v))
        x = *d;
      else if (const auto* u = std::get_if<std::uint64_t>(&v))
        x = static_cast<double>(*u);
      else if (const auto* i = std::get_if<std::int64_t>(&v))
        x = static_cast<double>(*i);
      else
        throw wrong_type("a number");
      if (!std::isfinite(x) || !f.range.contains(x)) throw out_of_bound();
      return x;
    }
    case ParameterType::kWord: {
      std::string words;
      for (auto w : f.words) words += (words.empty() ? "" : " | ") + std::string(w);
      const auto* s = std::get_if<std::string>(&v);
      if (!s) throw wrong_type("one of " + words);
      for (auto w : f.words)
        if (*s == w) return v;
      refuse(SpecError::Reason::kOutOfBound, step, f.name,
             where + " = " + *s + " is not one of " + words);
    }
  }
  return v;
}

template <class S>
S make_step(const Parameters& params, Unread unread) {
  const Entry<S>& e = entry_of<S>();
  S s{};
  std::set<std::string_view> read;
  for (const auto& f : e.fields) {
    const auto it = params.find(f.name);
    if (it == params.end()) continue;
    read.insert(f.name);
    if (f.applies && !f.applies(s)) {
      if (unread == Unread::kIgnore) continue;
      refuse(SpecError::Reason::kNotApplicable, e.name, f.name,
             std::string(e.name) + ": " + std::string(f.name) + " is read only with " +
                 std::string(f.applies_when));
    }
    f.set(s, convert(e.name, f, it->second));
  }
  if (unread == Unread::kRefuse)
    for (const auto& [key, value] : params)
      if (!read.contains(key)) {
        std::string known;
        for (const auto& f : e.fields) known += (known.empty() ? "" : ", ") + std::string(f.name);
        refuse(SpecError::Reason::kUnknownParameter, e.name, key,
               std::string(e.name) + " has no parameter '" + key + "' (" +
                   (known.empty() ? "it takes none" : "its parameters: " + known) + ")");
      }
  if (e.check) e.check(s);
  return s;
}

template <class S>
bool named(const Entry<S>& e, std::string_view name) {
  if (e.name == name) return true;
  for (auto a : e.aliases)
    if (a == name) return true;
  return false;
}

/// The alternative of V whose entry is called `name`, built; nullopt when none is.
template <class V, class Entries>
std::optional<V> make_named(const Entries& entries, std::string_view name, const Parameters& p,
                            Unread unread) {
  std::optional<V> out;
  std::apply(
      [&](const auto&... e) {
        (void)((named(e, name)
                    ? (out.emplace(make_step<typename std::decay_t<decltype(e)>::Step>(p, unread)),
                       true)
                    : false) ||
               ...);
      },
      entries);
  return out;
}

template <class S>
ParameterInfo parameter_info(const Field<S>& f) {
  std::string bound = format_range(f.range, f.type);
  if (f.type == ParameterType::kWord) {
    bound.clear();
    for (auto w : f.words) bound += (bound.empty() ? "" : " | ") + std::string(w);
  }
  std::string doc(f.doc);
  if (!f.applies_when.empty()) doc += " (read with " + std::string(f.applies_when) + ")";
  return {std::string(f.name), f.type, format(f.get(S{})), bound, doc};
}

template <class S>
StepInfo step_info(const Entry<S>& e) {
  StepInfo out{std::string(e.name),
               {e.aliases.begin(), e.aliases.end()},
               e.kind,
               e.coefficients,
               std::string(e.doc),
               {}};
  for (const auto& f : e.fields) out.parameters.push_back(parameter_info(f));
  return out;
}

template <class Entries>
std::vector<StepInfo> catalog(const Entries& entries) {
  return std::apply([](const auto&... e) { return std::vector<StepInfo>{step_info(e)...}; },
                    entries);
}

std::string names(const std::vector<StepInfo>& steps) {
  std::string out;
  for (const auto& s : steps) {
    out += (out.empty() ? "" : ", ") + s.name;
    for (const auto& a : s.aliases) out += " (" + a + ")";
  }
  return out;
}

// ---- The text: a small recursive-descent reader of the grammar in rule_registry.hpp. ----------

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  bool at_end() {
    skip_space();
    return pos_ == text_.size();
  }
  bool accept(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) return ++pos_, true;
    return false;
  }
  void expect(char c, const char* what) {
    if (!accept(c)) fail(std::string("expected ") + what);
  }
  std::string_view name() {
    skip_space();
    const std::size_t begin = pos_;
    while (pos_ < text_.size() && is_name_char(text_[pos_])) ++pos_;
    if (begin == pos_) fail("expected a name");
    return text_.substr(begin, pos_ - begin);
  }
  /// A value: everything up to the next ',' or ')', trimmed.
  Value value(std::string_view param) {
    skip_space();
    const std::size_t begin = pos_;
    while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != ')') ++pos_;
    std::string_view v = text_.substr(begin, pos_ - begin);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
    if (v.empty()) fail("expected a value for " + std::string(param));
    const char* first = v.data();
    const char* last = v.data() + v.size();
    if (v.front() == '-') {
      std::int64_t i = 0;
      if (auto [p, ec] = std::from_chars(first, last, i); ec == std::errc() && p == last) return i;
    } else {
      std::uint64_t u = 0;
      if (auto [p, ec] = std::from_chars(first, last, u); p == last) {
        if (ec != std::errc()) fail(std::string(param) + " = " + std::string(v) + " is too large");
        return u;
      }
    }
    double d = 0;
    if (auto [p, ec] = std::from_chars(first, last, d); ec == std::errc() && p == last) return d;
    for (char c : v)
      if (!is_name_char(c)) fail("'" + std::string(v) + "' is not a number or a word");
    return std::string(v);
  }
  [[noreturn]] void fail(const std::string& why) const {
    refuse(SpecError::Reason::kSyntax, "", "",
           "'" + std::string(text_) + "' at column " + std::to_string(pos_ + 1) + ": " + why +
               " (e.g. \"nnm(f=1) + trimmed-mean(beta=0.2)\")");
  }

 private:
  static bool is_name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  std::string_view text_;
  std::size_t pos_ = 0;
};

struct StepText {
  std::string name;
  Parameters parameters;
};

StepText read_step(Reader& in) {
  StepText step{std::string(in.name()), {}};
  if (!in.accept('(')) return step;
  if (in.accept(')')) return step;
  do {
    const std::string key(in.name());
    in.expect('=', ("'=' after " + key).c_str());
    Value v = in.value(key);
    if (!step.parameters.emplace(key, std::move(v)).second) in.fail(key + " is given twice");
  } while (in.accept(','));
  in.expect(')', "',' or ')'");
  return step;
}

bool is_rule_name(std::string_view name) {
  bool found = false;
  std::apply([&](const auto&... e) { found = (named(e, name) || ...); }, rule_entries());
  return found;
}
bool is_pre_name(std::string_view name) {
  bool found = false;
  std::apply([&](const auto&... e) { found = (named(e, name) || ...); }, pre_entries());
  return found;
}

}  // namespace

const char* to_string(RuleKind kind) {
  switch (kind) {
    case RuleKind::kLinear: return "linear";
    case RuleKind::kCoordinateWise: return "coordinate-wise";
    case RuleKind::kSelection: return "selection";
  }
  return "?";
}

const char* to_string(ParameterType type) {
  switch (type) {
    case ParameterType::kCount: return "integer";
    case ParameterType::kReal: return "real";
    case ParameterType::kWord: return "word";
  }
  return "?";
}

const std::vector<StepInfo>& rule_catalog() {
  static const std::vector<StepInfo> c = catalog(rule_entries());
  return c;
}
const std::vector<StepInfo>& pre_aggregation_catalog() {
  static const std::vector<StepInfo> c = catalog(pre_entries());
  return c;
}
const StepInfo& info(const Rule& rule) {
  return rule_catalog()[rule.index()];
}
const StepInfo& info(const PreAggregation& step) {
  return pre_aggregation_catalog()[step.index()];
}
std::string rule_names() {
  return names(rule_catalog());
}
std::string pre_aggregation_names() {
  return names(pre_aggregation_catalog());
}

std::string catalog_text() {
  std::string out;
  const auto list = [&](const std::vector<StepInfo>& steps, bool rules) {
    for (const auto& s : steps) {
      out += "  " + s.name;
      for (const auto& a : s.aliases) out += " (" + a + ")";
      out += rules ? std::string(", ") + to_string(s.kind) : std::string(", pre-aggregation");
      out += ": " + s.doc + "\n";
      for (const auto& p : s.parameters)
        out += "      " + p.name + " = " + p.default_value + "  [" + p.bound + "] " + p.doc + "\n";
    }
  };
  list(rule_catalog(), true);
  list(pre_aggregation_catalog(), false);
  return out;
}

bool is_parameter(std::string_view name) {
  for (const auto* steps : {&rule_catalog(), &pre_aggregation_catalog()})
    for (const auto& s : *steps)
      for (const auto& p : s.parameters)
        if (p.name == name) return true;
  return false;
}

Rule make_rule(std::string_view name, const Parameters& parameters, Unread unread) {
  if (auto r = make_named<Rule>(rule_entries(), name, parameters, unread)) return *r;
  if (is_pre_name(name))
    refuse(SpecError::Reason::kMisplaced, name, "",
           "'" + std::string(name) +
               "' is a pre-aggregation step, not a rule; write it before "
               "the rule, e.g. \"" +
               std::string(name) + " + median\" (rules: " + rule_names() + ")");
  refuse(SpecError::Reason::kUnknownName, name, "",
         "unknown aggregation rule '" + std::string(name) + "' (rules: " + rule_names() + ")");
}

PreAggregation make_pre_aggregation(std::string_view name, const Parameters& parameters,
                                    Unread unread) {
  if (auto p = make_named<PreAggregation>(pre_entries(), name, parameters, unread)) return *p;
  if (is_rule_name(name))
    refuse(SpecError::Reason::kMisplaced, name, "",
           "'" + std::string(name) +
               "' is a rule: only the last step of a spec is the rule "
               "(pre-aggregation steps: " +
               pre_aggregation_names() + ")");
  refuse(SpecError::Reason::kUnknownName, name, "",
         "unknown pre-aggregation step '" + std::string(name) +
             "' (pre-aggregation steps: " + pre_aggregation_names() + ")");
}

AggregationSpec parse_aggregation(std::string_view text) {
  Reader in(text);
  std::vector<StepText> steps;
  do steps.push_back(read_step(in));
  while (in.accept('+'));
  if (!in.at_end()) in.fail("expected '+' or the end");
  AggregationSpec spec;
  for (std::size_t i = 0; i + 1 < steps.size(); ++i)
    spec.pre.push_back(make_pre_aggregation(steps[i].name, steps[i].parameters));
  spec.rule = make_rule(steps.back().name, steps.back().parameters);
  return spec;
}

AggregationSpec make_aggregation(const AggregationTable& table) {
  using Reason = SpecError::Reason;
  if (table.rule.find_first_of("(+") != std::string::npos) {
    const auto conflict = [&](const std::string& key) {
      refuse(Reason::kNotApplicable, "", key,
             key + " is set beside a full spec (rule = \"" + table.rule +
                 "\"): write it inside the spec, or give the rule by name");
    };
    if (!table.parameters.empty()) conflict(table.parameters.begin()->first);
    if (table.nnm) conflict("nnm");
    if (table.bucket > 1) conflict("bucket");
    if (table.bucket_seed != 0) conflict("bucket_seed");
    return parse_aggregation(table.rule);
  }
  for (const auto& [key, value] : table.parameters) {
    bool known = false;
    for (const auto& r : rule_catalog())
      for (const auto& p : r.parameters) known = known || p.name == key;
    if (!known) {
      std::set<std::string> all;
      for (const auto& r : rule_catalog())
        for (const auto& p : r.parameters) all.insert(p.name);
      std::string list;
      for (const auto& n : all) list += (list.empty() ? "" : ", ") + n;
      refuse(Reason::kUnknownParameter, "", key,
             "no rule has a parameter '" + key + "' (parameters: " + list + ")");
    }
  }
  Parameters rule_parameters = table.parameters;
  if (table.rule == "centered-clipping" && !rule_parameters.contains("iters"))
    rule_parameters["iters"] = std::uint64_t{10};
  AggregationSpec spec;
  if (table.nnm) {
    Parameters nnm;
    if (const auto f = table.parameters.find("f"); f != table.parameters.end()) nnm.insert(*f);
    spec.pre.push_back(make_pre_aggregation("nnm", nnm));
  }
  if (table.bucket > 1)
    spec.pre.push_back(
        make_pre_aggregation("bucketing", {{"s", table.bucket}, {"seed", table.bucket_seed}}));
  spec.rule = make_rule(table.rule, rule_parameters, Unread::kIgnore);
  return spec;
}

std::string describe(const Rule& rule) {
  return std::visit([](const auto& r) { return describe_step(r); }, rule);
}
std::string describe(const PreAggregation& step) {
  return std::visit([](const auto& p) { return describe_step(p); }, step);
}
std::string describe(const AggregationSpec& spec) {
  std::string out;
  for (const auto& p : spec.pre) out += describe(p) + " + ";
  return out + describe(spec.rule);
}

}  // namespace murmur::kernels

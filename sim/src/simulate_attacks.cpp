#include "murmur/sim/simulate_attacks.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

namespace murmur::sim {
namespace {

constexpr Attack kAll[] = {Attack::kNone,     Attack::kSignFlip, Attack::kGaussianNoise,
                           Attack::kAlie,     Attack::kIpm,      Attack::kLabelFlip,
                           Attack::kFreeRide, Attack::kNonFinite};

/// Standard normal quantile by bisection on erfc (|error| < 1e-12; called once per round).
double normal_quantile(double p) {
  double lo = -10, hi = 10;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

std::string_view attack_name(Attack a) {
  switch (a) {
    case Attack::kNone: return "none";
    case Attack::kSignFlip: return "sign-flip";
    case Attack::kGaussianNoise: return "noise";
    case Attack::kAlie: return "alie";
    case Attack::kIpm: return "ipm";
    case Attack::kLabelFlip: return "label-flip";
    case Attack::kFreeRide: return "free-ride";
    case Attack::kNonFinite: return "non-finite";
  }
  return "?";
}

Attack parse_attack(std::string_view name) {
  std::string names;
  for (Attack a : kAll) {
    if (attack_name(a) == name) return a;
    names += (names.empty() ? "" : ", ") + std::string(attack_name(a));
  }
  throw std::invalid_argument("unknown attack '" + std::string(name) + "' (one of: " + names + ")");
}

std::vector<Attack> all_attacks() {
  return {std::begin(kAll) + 1, std::end(kAll)};
}

bool needs_honest_deltas(Attack a) {
  return a == Attack::kAlie || a == Attack::kIpm;
}

bool trains_locally(Attack a) {
  return a == Attack::kNone || a == Attack::kSignFlip || a == Attack::kLabelFlip;
}

double alie_z(std::size_t n, std::size_t f) {
  if (n == 0 || f >= n) throw std::invalid_argument("alie_z: needs 0 <= f < n");
  const double s = std::floor(static_cast<double>(n) / 2.0 + 1.0) - static_cast<double>(f);
  const double p = (static_cast<double>(n) - s) / static_cast<double>(n);
  if (p <= 0.5) return 0.0;
  if (p >= 1.0) return normal_quantile(1.0 - 1e-12);
  return normal_quantile(p);
}

std::vector<float> byzantine_update(Attack attack, const AttackParams& params,
                                    std::size_t parameters, std::span<const float> own,
                                    std::span<const std::vector<float>> honest, std::size_t n,
                                    std::size_t f, std::uint64_t seed) {
  std::vector<float> out(parameters, 0.0f);
  const auto need_own = [&] {
    if (own.size() != parameters)
      throw std::invalid_argument(std::string(attack_name(attack)) +
                                  " needs the attacker's own trained delta");
  };
  switch (attack) {
    case Attack::kNone:
    case Attack::kLabelFlip:
      need_own();
      std::copy(own.begin(), own.end(), out.begin());
      break;
    case Attack::kSignFlip:
      need_own();
      for (std::size_t j = 0; j < parameters; ++j)
        out[j] = static_cast<float>(-params.sign_flip_scale * own[j]);
      break;
    case Attack::kGaussianNoise: {
      std::mt19937_64 rng(seed);
      std::normal_distribution<double> normal(0.0, params.noise_std);
      for (auto& v : out) v = static_cast<float>(normal(rng));
      break;
    }
    case Attack::kAlie:
    case Attack::kIpm: {
      if (honest.empty()) break;
      const double m = static_cast<double>(honest.size());
      const double z =
          attack == Attack::kAlie
              ? (std::isnan(params.alie_z) ? alie_z(std::max(n, f + 1), f) : params.alie_z)
              : 0.0;
      for (std::size_t j = 0; j < parameters; ++j) {
        double sum = 0, sq = 0;
        for (const auto& h : honest) sum += h[j];
        const double mu = sum / m;
        if (attack == Attack::kIpm) {
          out[j] = static_cast<float>(-params.ipm_epsilon * mu);
          continue;
        }
        for (const auto& h : honest) sq += (h[j] - mu) * (h[j] - mu);
        out[j] = static_cast<float>(mu - z * std::sqrt(sq / m));
      }
      break;
    }
    case Attack::kFreeRide: break;
    case Attack::kNonFinite: {
      std::mt19937_64 rng(seed);
      std::uniform_int_distribution<std::size_t> at(0, parameters == 0 ? 0 : parameters - 1);
      if (parameters > 0) {
        out[at(rng)] = std::numeric_limits<float>::quiet_NaN();
        out[at(rng)] = std::numeric_limits<float>::infinity();
      }
      break;
    }
  }
  return out;
}

}  // namespace murmur::sim

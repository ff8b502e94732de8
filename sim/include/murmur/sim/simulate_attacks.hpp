#pragma once
// Byzantine nodes of a simulation and the updates they send. Updates are deltas (local model
// minus global model), so "honest" means the delta of plain local training.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace murmur::sim {

enum class Attack {
  kNone,           ///< honest
  kSignFlip,       ///< trains honestly, sends -scale x its own delta
  kGaussianNoise,  ///< sends N(0, noise_std^2) in every coordinate
  kAlie,           ///< "a little is enough" (Baruch et al. 2019): mu - z sigma of the honest deltas
  kIpm,            ///< inner product manipulation (Xie et al. 2020): -epsilon x mean honest delta
  kLabelFlip,      ///< trains on its data with labels y -> C - 1 - y
  kFreeRide,       ///< sends a zero update (claims its samples, does no work)
  kNonFinite,      ///< sends NaN and Inf values: ingest must refuse them (ERR_NON_FINITE)
};

/// "none", "sign-flip", "noise", "alie", "ipm", "label-flip", "free-ride", "non-finite".
std::string_view attack_name(Attack a);
/// The inverse of attack_name; throws std::invalid_argument listing the names.
Attack parse_attack(std::string_view name);
/// Every attack but kNone, in declaration order.
std::vector<Attack> all_attacks();

/// True when the attack needs the honest deltas of the round (an omniscient attacker: ALIE, IPM).
bool needs_honest_deltas(Attack a);
/// True when the attacker trains locally first (sign flip on its data, label flip on flipped
/// labels); the others never train.
bool trains_locally(Attack a);

struct AttackParams {
  double sign_flip_scale = 4.0;  ///< kSignFlip: the delta sent is -scale x own delta
  double noise_std = 0.1;        ///< kGaussianNoise: standard deviation per coordinate
  /// kAlie: z; NaN = Baruch et al.'s z_max for the round's n and f (alie_z).
  double alie_z = std::numeric_limits<double>::quiet_NaN();
  double ipm_epsilon = 0.1;  ///< kIpm: the delta sent is -epsilon x the honest mean
};

/// Baruch et al.'s z_max: s = floor(n / 2 + 1) - f supporters are needed, and
/// z = Phi^{-1}((n - s) / n) (the standard normal quantile). Clamped below at 0. For n = 25,
/// f = 5: s = 8, z = Phi^{-1}(0.68) = 0.468. Precondition: f < n.
double alie_z(std::size_t n, std::size_t f);

/// What a Byzantine node uploads in a round:
///   kSignFlip: -scale own;      kLabelFlip: own;         kFreeRide: 0;
///   kGaussianNoise: N(0, s^2) from mt19937_64(seed);
///   kAlie: mu_j - z sigma_j;    kIpm: -epsilon mu_j      (mu, sigma: per-coordinate mean and
///   population standard deviation of `honest`, in double, in row order);
///   kNonFinite: zeros with NaN and +Inf at seeded coordinates.
/// `own` is the attacker's own trained delta (used by kSignFlip and kLabelFlip); `honest` the
/// honest deltas of the round (kAlie, kIpm; with none, both send zeros); `n` and `f` the round's
/// proposers and Byzantine proposers (kAlie's automatic z). Returns `parameters` floats. O(P x
/// |honest|).
std::vector<float> byzantine_update(Attack attack, const AttackParams& params,
                                    std::size_t parameters, std::span<const float> own,
                                    std::span<const std::vector<float>> honest, std::size_t n,
                                    std::size_t f, std::uint64_t seed);

}  // namespace murmur::sim

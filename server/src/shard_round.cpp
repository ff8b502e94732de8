#include "shard_round.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "murmur/protocol/part_commitment.hpp"
#include "murmur/shard/collective.hpp"
#include "murmur/shard/rendezvous.hpp"
#include "murmur/shard/sharded_aggregate.hpp"
#include "refuse.hpp"
#include "shard_keccak.hpp"
#include "spool_row_source.hpp"

namespace murmur::server {
namespace {

using Clock = std::chrono::steady_clock;

std::string round_key(std::uint64_t round, const std::string& what) {
  return "round/" + std::to_string(round) + "/" + what;
}

/// One committed update as the shards compare them: the same node, the same whole-update hash,
/// the same sample count.
struct Entry {
  chain::Address address;
  chain::Hash32 hash{};
  std::uint64_t samples = 0;
  friend bool operator<(const Entry& a, const Entry& b) {
    return std::tie(a.address, a.hash, a.samples) < std::tie(b.address, b.hash, b.samples);
  }
  friend bool operator==(const Entry&, const Entry&) = default;
};
constexpr std::size_t kEntryBytes = 20 + 32 + 8;

std::vector<std::uint8_t> encode(const std::vector<Entry>& entries) {
  std::vector<std::uint8_t> out;
  out.reserve(entries.size() * kEntryBytes);
  for (const Entry& e : entries) {
    out.insert(out.end(), e.address.bytes.begin(), e.address.bytes.end());
    out.insert(out.end(), e.hash.begin(), e.hash.end());
    for (int b = 0; b < 8; ++b) out.push_back(static_cast<std::uint8_t>(e.samples >> (8 * b)));
  }
  return out;
}

std::vector<Entry> decode(const std::vector<std::uint8_t>& in, std::size_t shard) {
  if (in.size() % kEntryBytes != 0)
    throw shard::CollectiveError(
        "shard " + std::to_string(shard) + "'s list of committed updates " + "is " +
        std::to_string(in.size()) + " bytes, not a multiple of " + std::to_string(kEntryBytes));
  std::vector<Entry> out(in.size() / kEntryBytes);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::uint8_t* p = in.data() + i * kEntryBytes;
    std::memcpy(out[i].address.bytes.data(), p, 20);
    std::memcpy(out[i].hash.data(), p + 20, 32);
    for (int b = 0; b < 8; ++b) out[i].samples |= static_cast<std::uint64_t>(p[52 + b]) << (8 * b);
  }
  return out;
}

std::span<const std::uint8_t> text_bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

std::string heartbeat_key(std::size_t shard) {
  return "shard/" + std::to_string(shard) + "/alive";
}

std::string encode_opening(const RoundOpening& o) {
  nlohmann::json stakes = nlohmann::json::array();
  for (const auto& [a, stake] : o.stakes) stakes.push_back({a.to_checksum(), stake.to_dec()});
  return nlohmann::json{{"round", o.round},
                        {"seed", chain::to_hex(o.seed)},
                        {"deadline_unix_ms", o.deadline_unix_ms},
                        {"participants", stakes}}
      .dump();
}

RoundOpening decode_opening(const std::vector<std::uint8_t>& bytes) {
  const auto j = nlohmann::json::parse(std::string(bytes.begin(), bytes.end()));
  RoundOpening o;
  o.round = j.at("round").get<std::uint64_t>();
  o.seed = chain::hash_from_hex(j.at("seed").get<std::string>());
  o.deadline_unix_ms = j.at("deadline_unix_ms").get<std::int64_t>();
  for (const auto& p : j.at("participants"))
    o.stakes[chain::Address::from_hex(p.at(0).get<std::string>())] =
        chain::U256::from_string(p.at(1).get<std::string>());
  return o;
}

std::string decision_key(std::uint64_t round) {
  return round_key(round, "decision");
}

std::string encode_decision(const CoordinatorDecision& d) {
  return nlohmann::json{{"outcome", to_string(d.outcome)}, {"reason", d.reason}}.dump();
}

CoordinatorDecision decode_decision(const std::vector<std::uint8_t>& bytes) {
  const auto j = nlohmann::json::parse(std::string(bytes.begin(), bytes.end()));
  CoordinatorDecision d;
  const std::string o = j.at("outcome").get<std::string>();
  d.outcome = o == "accepted"    ? RoundOutcome::kAccepted
              : o == "rejected"  ? RoundOutcome::kRejected
              : o == "no quorum" ? RoundOutcome::kNoQuorum
                                 : RoundOutcome::kFailed;
  d.reason = j.at("reason").get<std::string>();
  return d;
}

std::string keccak_key(std::uint64_t round, std::uint64_t attempt, std::size_t shard) {
  return round_key(round, "keccak/" + std::to_string(attempt) + "/" + std::to_string(shard));
}

void ShardLink::set_contact(ShardContact contact) {
  std::lock_guard lock(figures_mutex_);
  contact_ = std::move(contact);
}

ShardContact ShardLink::contact() const {
  std::lock_guard lock(figures_mutex_);
  return contact_;
}

void ShardLink::count_store(std::uint64_t set, std::uint64_t got) {
  std::lock_guard lock(figures_mutex_);
  store_set_ += set;
  store_got_ += got;
}

ShardLink::ShardLink(ShardConfig config, std::size_t quorum)
    : config_(std::move(config)), quorum_(std::max<std::size_t>(quorum, 1)) {
  heartbeat_ = std::thread([this] { beat(); });
}

ShardLink::~ShardLink() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  heartbeat_.join();
}

void ShardLink::record(const Figures& f) {
  std::lock_guard lock(figures_mutex_);
  figures_ = f;
}

std::optional<RoundOpening> ShardLink::opening() const {
  std::lock_guard lock(follow_mutex_);
  return opening_;
}

void ShardLink::watch(std::uint64_t round) {
  std::lock_guard lock(follow_mutex_);
  watched_ = round;
}

std::optional<CoordinatorDecision> ShardLink::decision(std::uint64_t round) const {
  std::lock_guard lock(follow_mutex_);
  if (decision_ && decision_->first == round) return decision_->second;
  return std::nullopt;
}

void ShardLink::resumed_in(std::uint64_t round) {
  std::lock_guard lock(follow_mutex_);
  resumed_ = round;
}

bool ShardLink::take_resumed(std::uint64_t round) {
  std::lock_guard lock(follow_mutex_);
  const bool was = resumed_ == round;
  resumed_ = 0;
  return was;
}

void ShardLink::ran(std::uint64_t round, std::uint64_t attempt) {
  std::lock_guard lock(follow_mutex_);
  ran_ = {round, attempt};
}

bool ShardLink::retry_asked(std::uint64_t round) const {
  std::lock_guard lock(follow_mutex_);
  return ran_.first == round && asked_.first == round && asked_.second > ran_.second;
}

void ShardLink::read_coordinator(shard::Rendezvous& store) {
  // Everything is read from the store first and cached under one lock: the coordinator writes a
  // round's decision before it opens the next round, so an opening cached here always comes
  // with the decision of the round before it. (Caching the opening first let the round engine
  // see round N + 1 open and round N undecided in between, and end round N without the
  // coordinator's reason.)
  std::optional<RoundOpening> opening;
  if (store.has(kOpeningKey)) opening = decode_opening(store.get(kOpeningKey));
  std::uint64_t watched = 0;
  bool decided = false;
  {
    std::lock_guard lock(follow_mutex_);
    watched = watched_;
    decided = decision_ && decision_->first == watched;
  }
  std::optional<std::uint64_t> asked;
  if (watched != 0 && store.has(attempt_key(watched))) {
    const auto v = store.get(attempt_key(watched));
    asked = std::stoull(std::string(v.begin(), v.end()));
  }
  std::optional<CoordinatorDecision> decision;
  if (watched != 0 && !decided && store.has(decision_key(watched)))
    decision = decode_decision(store.get(decision_key(watched)));
  std::lock_guard lock(follow_mutex_);
  if (opening) opening_ = std::move(opening);
  if (asked) asked_ = {watched, *asked};
  if (decision) decision_ = std::make_pair(watched, std::move(*decision));
}

ShardLink::Figures ShardLink::figures() const {
  std::lock_guard lock(figures_mutex_);
  return figures_;
}

std::string ShardLink::metrics_text() const {
  const Figures f = figures();
  std::string s;
  s += "# HELP murmur_shard_info This murmurd's place in its shard set and its coordinate range.\n"
       "# TYPE murmur_shard_info gauge\n";
  s += "murmur_shard_info{index=\"" + std::to_string(config_.index) + "\",count=\"" +
       std::to_string(config_.count) + "\",range_begin=\"" + std::to_string(config_.range_begin) +
       "\",range_end=\"" + std::to_string(config_.range_end) + "\"} 1\n";
  s += "# HELP murmur_shard_heartbeats_total Heartbeats set in the coordinator's store.\n"
       "# TYPE murmur_shard_heartbeats_total counter\n"
       "murmur_shard_heartbeats_total " +
       std::to_string(heartbeats_.load()) + "\n";
  s += "# HELP murmur_shard_rounds_total This shard's aggregations, by result.\n"
       "# TYPE murmur_shard_rounds_total counter\n"
       "murmur_shard_rounds_total{result=\"aggregated\"} " +
       std::to_string(f.aggregated) + "\nmurmur_shard_rounds_total{result=\"failed\"} " +
       std::to_string(f.failed) + "\n";
  s += "# HELP murmur_shard_last_collective_seconds Time in the last round's allgathers.\n"
       "# TYPE murmur_shard_last_collective_seconds gauge\n"
       "murmur_shard_last_collective_seconds " +
       std::to_string(f.collective_seconds) + "\n";
  s += "# TYPE murmur_shard_last_reductions gauge\nmurmur_shard_last_reductions " +
       std::to_string(f.reductions) + "\n";
  s += "# TYPE murmur_shard_last_doubles_sent gauge\nmurmur_shard_last_doubles_sent " +
       std::to_string(f.doubles_sent) + "\n";
  s += "# TYPE murmur_shard_last_updates gauge\nmurmur_shard_last_updates " +
       std::to_string(f.updates) + "\n";
  s += "# HELP murmur_shard_last_updates_left_out Updates of the last round not committed on "
       "every shard.\n# TYPE murmur_shard_last_updates_left_out gauge\n"
       "murmur_shard_last_updates_left_out " +
       std::to_string(f.left_out) + "\n";
  std::uint64_t set = 0, got = 0;
  {
    std::lock_guard lock(figures_mutex_);
    set = store_set_, got = store_got_;
  }
  s += "# HELP murmur_shard_store_bytes_total Value bytes this shard's aggregations set into and "
       "read from the coordinator's store (never a model part).\n"
       "# TYPE murmur_shard_store_bytes_total counter\n"
       "murmur_shard_store_bytes_total{op=\"set\"} " +
       std::to_string(set) + "\nmurmur_shard_store_bytes_total{op=\"get\"} " + std::to_string(got) +
       "\n";
  return s;
}

void ShardLink::beat() {
  std::unique_ptr<shard::Rendezvous> store;
  std::uint64_t count = 0;
  bool warned = false;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    try {
      if (!store)  // a short wait: the loop comes back to stopping_ at least every second
        store = shard::Rendezvous::connect(config_.coordinator_host, config_.coordinator_port,
                                           std::chrono::milliseconds(1000));
      const std::string text = std::to_string(++count);
      store->set(heartbeat_key(config_.index), text_bytes(text));
      ++heartbeats_;
      read_coordinator(*store);
      if (warned) spdlog::info("shard {}: the coordinator's store is reachable", config_.index);
      warned = false;
    } catch (const std::exception& e) {
      store.reset();
      if (!warned)
        spdlog::warn("shard {}: heartbeat: the coordinator's store is unreachable: {}",
                     config_.index, e.what());
      warned = true;
    }
    lock.lock();
    cv_.wait_for(lock, kHeartbeat, [&] { return stopping_; });
  }
}

shard::Rendezvous& ShardLink::store() {
  if (!store_)
    store_ = shard::Rendezvous::connect(config_.coordinator_host, config_.coordinator_port,
                                        config_.timeout);
  return *store_;
}

void ShardLink::reset() {
  store_.reset();
}

std::string shard_result_key(std::uint64_t round, std::size_t shard) {
  return round_key(round, "result/" + std::to_string(shard));
}

chain::Hash32 check_shard_commit(const ShardConfig& config, const Spool& spool,
                                 const Upload& upload, const wire::UploadCommit& commit) {
  if (!commit.has_split())
    refuse(wire::ERR_MALFORMED,
           "this murmurd is shard " + std::to_string(config.index) + " of " +
               std::to_string(config.count) +
               ": a commit carries the split commitment of the update (UploadCommit.split)");
  protocol::SplitCommitment c;
  try {
    c = protocol::from_wire(commit.split());
  } catch (const protocol::PartCommitmentError& e) {
    refuse(wire::ERR_MALFORMED, e.what());
  }
  const std::uint64_t total = upload.total_bytes();
  const std::uint64_t per = upload.parameters == 0 ? 0 : total / upload.parameters;
  if (commit.split().part() != config.index || c.parts.size() != config.count)
    refuse(wire::ERR_MALFORMED,
           "the commitment is for part " + std::to_string(commit.split().part()) + " of " +
               std::to_string(c.parts.size()) + "; this is shard " + std::to_string(config.index) +
               " of " + std::to_string(config.count));
  const protocol::PartProof& mine = c.parts[config.index];
  if (mine.begin != config.range_begin * per || mine.end != config.range_end * per ||
      c.total != config.total_parameters * per)
    refuse(wire::ERR_MALFORMED,
           "the commitment's part " + std::to_string(config.index) + " is bytes [" +
               std::to_string(mine.begin) + ", " + std::to_string(mine.end) + ") of " +
               std::to_string(c.total) + "; this shard holds coordinates [" +
               std::to_string(config.range_begin) + ", " + std::to_string(config.range_end) +
               ") of " + std::to_string(config.total_parameters));
  const chain::Hash32 claimed = hash_field(commit.update_hash(), "update_hash");
  if (claimed != c.hash)
    refuse(wire::ERR_HASH_MISMATCH, "update_hash " + chain::to_hex(claimed) +
                                        " is not the commitment's " + chain::to_hex(c.hash));
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(total));
  {
    std::ifstream in(spool.file(upload), std::ios::binary);
    if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(total)))
      refuse(wire::ERR_INTERNAL, "cannot read the spooled part back");
  }
  try {
    protocol::check_part(c, config.index, bytes);
  } catch (const protocol::PartCommitmentError& e) {
    refuse(wire::ERR_HASH_MISMATCH, e.what());
  }
  // Kept before the commit is recorded: a part committed always has its proof on disk.
  const std::filesystem::path kept = split_commitment_file(spool, upload);
  const std::filesystem::path temporary = kept.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!commit.split().SerializeToOstream(&out) || !out.flush())
      refuse(wire::ERR_INTERNAL, "cannot keep the split commitment beside the part");
  }
  std::filesystem::rename(temporary, kept);
  return c.hash;
}

std::filesystem::path split_commitment_file(const Spool& spool, const Upload& upload) {
  return spool.file(upload).string() + ".split";
}

std::string attempt_key(std::uint64_t round) {
  return round_key(round, "attempt");
}

namespace {

/// One attempt of a shard's aggregation (its own Gloo group); `retryable`: it failed for a
/// collective (a peer gone, a group that did not form), which a fresh group may get past.
AggregationResult aggregate_attempt(Spool& spool, StateStore& store, std::uint64_t round,
                                    const std::vector<Upload>& uploads, const RoundRule& rule,
                                    const chain::Hash32& global, kernels::Backend& backend,
                                    ShardLink& link, std::uint64_t attempt, bool& retryable) {
  const ShardConfig& cfg = link.config();
  const std::size_t k = cfg.index, S = cfg.count;
  AggregationResult r;
  const auto t0 = Clock::now();
  nlohmann::json result = {{"shard", k},
                           {"shards", S},
                           {"attempt", attempt},
                           {"range", {cfg.range_begin, cfg.range_end}},
                           {"rule", kernels::describe(rule.spec)}};
  malloc_trim(0);
  bool reachable = false;
  shard::Rendezvous* counted = nullptr;
  std::uint64_t set0 = 0, got0 = 0;
  try {
    shard::Rendezvous& rv = link.store();
    reachable = true;
    counted = &rv, set0 = rv.bytes_set(), got0 = rv.bytes_got();
    // 1. Which updates every shard committed: the only ones any shard aggregates.
    std::vector<Entry> mine;
    for (const Upload& u : uploads) mine.push_back({u.address, u.update_hash, u.num_samples});
    std::sort(mine.begin(), mine.end());
    rv.set(round_key(round, "committed/" + std::to_string(k)), encode(mine));
    std::vector<std::string> keys;
    for (std::size_t j = 0; j < S; ++j)
      keys.push_back(round_key(round, "committed/" + std::to_string(j)));
    try {
      rv.wait(keys, cfg.timeout);
    } catch (const shard::CollectiveError&) {
      std::string down;
      for (std::size_t j = 0; j < S; ++j)
        if (!rv.has(keys[j])) down += (down.empty() ? "" : ", ") + std::to_string(j);
      throw shard::CollectiveError("shard " + down + " of " + std::to_string(S) +
                                   " did not report its committed updates for round " +
                                   std::to_string(round) + " within " +
                                   std::to_string(cfg.timeout.count()) + " ms (down?)");
    }
    std::vector<Entry> common = mine;
    for (std::size_t j = 0; j < S; ++j) {
      if (j == k) continue;
      const std::vector<Entry> theirs = decode(rv.get(keys[j]), j);
      std::vector<Entry> both;
      std::set_intersection(common.begin(), common.end(), theirs.begin(), theirs.end(),
                            std::back_inserter(both));
      common = std::move(both);
    }
    std::vector<Upload> kept;
    nlohmann::json dropped = nlohmann::json::array();
    for (const Upload& u : uploads) {
      const Entry e{u.address, u.update_hash, u.num_samples};
      if (std::binary_search(common.begin(), common.end(), e))
        kept.push_back(u);
      else
        dropped.push_back(u.address.to_checksum());
    }
    std::sort(kept.begin(), kept.end(),
              [](const Upload& a, const Upload& b) { return a.address < b.address; });
    result["updates"] = kept.size();
    result["dropped"] = dropped;
    if (!dropped.empty())
      spdlog::warn("round={} shard {}: {} updates not committed on every shard are left out", round,
                   k, dropped.size());
    if (kept.size() < link.quorum())
      throw std::runtime_error(
          "no quorum: " + std::to_string(kept.size()) + " of " + std::to_string(link.quorum()) +
          " updates committed on every shard of round " + std::to_string(round));

    // 2. This shard's range of the aggregate, the statistics summed across the shards.
    auto collective = shard::make_gloo_collective(
        rv, k, S, cfg.host, cfg.timeout, round_key(round, "gloo/" + std::to_string(attempt)));
    spdlog::info("round={} shard {}: the Gloo group of attempt {} formed", round, k, attempt);
    const std::size_t n = static_cast<std::size_t>(cfg.range_end - cfg.range_begin);
    SpoolRowSource rows(spool, kept, n);
    std::vector<double> counts;
    for (const Upload& u : kept) counts.push_back(static_cast<double>(u.num_samples));
    std::vector<float> delta(n);
    const shard::ShardOutcome outcome = shard::aggregate_shard(
        backend, rows, {cfg.range_begin, cfg.range_end}, counts, rule.spec, *collective, delta);
    std::vector<float> candidate = spool.load_model(global);
    if (candidate.size() != n)
      throw std::runtime_error("the global model part holds " + std::to_string(candidate.size()) +
                               " coordinates, the shard's range " + std::to_string(n));
    for (std::size_t j = 0; j < n; ++j) candidate[j] += delta[j];
    nlohmann::json row_list = nlohmann::json::array();
    for (std::size_t i = 0; i < kept.size(); ++i) {
      const auto& d = outcome.report.rows[i];
      const std::string flag = flag_of(rule.spec, d, rule.flag_ratio);
      store.record_diagnostic(round, kept[i].address, kernels::to_string(d.verdict), d.weight,
                              d.score, d.distance, flag);
      row_list.push_back({{"address", kept[i].address.to_checksum()},
                          {"hash", chain::to_hex(kept[i].update_hash)},
                          {"samples", kept[i].num_samples},
                          {"signature", chain::to_hex(kept[i].signature)},
                          {"verdict", kernels::to_string(d.verdict)},
                          {"weight", d.weight},
                          {"score", d.score},
                          {"distance", d.distance},
                          {"flag", flag}});
    }
    result["rows"] = row_list;
    r.candidate = spool.store_model(candidate);
    // The whole model's keccak-256 without the model crossing the store: this shard absorbs its
    // part into the sponge shard k-1 left (its 204 bytes, waited for up to the timeout) and
    // hands the sponge on; the coordinator squeezes shard S-1's. The part stays here; the
    // coordinator reads it from this shard's round endpoint when it validates.
    KeccakChain sponge;
    if (k > 0) sponge = KeccakChain::resume(rv.get(keccak_key(round, attempt, k - 1)));
    sponge.absorb({reinterpret_cast<const std::uint8_t*>(candidate.data()), candidate.size() * 4});
    rv.set(keccak_key(round, attempt, k), sponge.state());
    const ShardContact contact = link.contact();
    result["endpoint"] = contact.endpoint;
    result["public_key"] = contact.public_key;
    result["chunk_bytes"] = contact.chunk_bytes;
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    store.record_aggregation(round, kept.size(), outcome.report.rule, global, r.candidate,
                             r.seconds, std::nullopt);
    result["candidate"] = chain::to_hex(r.candidate);
    result["global"] = chain::to_hex(global);
    result["reductions"] = outcome.reductions;
    result["doubles_sent"] = outcome.doubles_sent;
    result["collective_seconds"] = outcome.collective_seconds;
    result["seconds"] = r.seconds;
    result["error"] = "";
    ShardLink::Figures f = link.figures();
    ++f.aggregated;
    f.collective_seconds = outcome.collective_seconds;
    f.reductions = outcome.reductions;
    f.doubles_sent = outcome.doubles_sent;
    f.updates = kept.size();
    f.left_out = dropped.size();
    link.record(f);
  } catch (const std::exception& e) {
    r.error = "shard " + std::to_string(k) + " of " + std::to_string(S) + ": " + e.what();
    retryable = dynamic_cast<const shard::CollectiveError*>(&e) != nullptr;
    result["error"] = r.error;
    result["retryable"] = retryable;
    spdlog::error("round={} {}", round, r.error);
    ShardLink::Figures f = link.figures();
    ++f.failed;
    link.record(f);
  }
  if (r.seconds == 0) r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (reachable) {
    try {
      link.store().set(shard_result_key(round, k), text_bytes(result.dump()));
    } catch (const std::exception& e) {
      spdlog::error("round={} shard {}: cannot publish its result: {}", round, k, e.what());
    }
    if (counted == &link.store())
      link.count_store(counted->bytes_set() - set0, counted->bytes_got() - got0);
  }
  if (!r.error.empty()) link.reset();
  malloc_trim(0);
  return r;
}

}  // namespace

AggregationResult shard_aggregate_and_record(Spool& spool, StateStore& store, std::uint64_t round,
                                             const std::vector<Upload>& uploads,
                                             const RoundRule& rule, const chain::Hash32& global,
                                             kernels::Backend& backend, ShardLink& link) {
  const ShardConfig& cfg = link.config();
  const auto t0 = Clock::now();
  const auto limit = cfg.timeout * (kAttempts + 1);
  // The coordinator's attempt number (0 before any retry) and whether it ended the round.
  const auto attempt_now = [&] {
    shard::Rendezvous& rv = link.store();
    if (!rv.has(attempt_key(round))) return std::uint64_t{0};
    const auto v = rv.get(attempt_key(round));
    return static_cast<std::uint64_t>(std::stoull(std::string(v.begin(), v.end())));
  };
  const auto decided = [&] { return link.store().has(decision_key(round)); };
  for (;;) {
    std::uint64_t attempt = 0;
    AggregationResult r;
    bool retryable = false;
    try {
      attempt = attempt_now();
      if (decided()) {
        r.error = "the coordinator ended round " + std::to_string(round) + " meanwhile";
        link.ran(round, attempt);
        return r;
      }
    } catch (const std::exception& e) {
      link.reset();
      r.error = "shard " + std::to_string(cfg.index) + ": the coordinator's store: " + e.what();
      return r;
    }
    // Restarted during this round's aggregation: when another shard already has a result of the
    // current attempt, that attempt's group formed (or failed) without this shard.
    bool stale_group = false;
    if (link.take_resumed(round)) {
      try {
        for (std::size_t j = 0; j < cfg.count && !stale_group; ++j) {
          if (j == cfg.index || !link.store().has(shard_result_key(round, j))) continue;
          const auto v = link.store().get(shard_result_key(round, j));
          stale_group = nlohmann::json::parse(std::string(v.begin(), v.end()))
                            .value("attempt", std::uint64_t{0}) == attempt;
        }
      } catch (const std::exception&) {
        link.reset();
        stale_group = true;
      }
    }
    if (stale_group) {
      // Restarted in the middle of this round's aggregation: the attempt's group may have formed
      // without this shard (a Gloo group cannot be joined late). It asks for a fresh one.
      retryable = true;
      r.error = "shard " + std::to_string(cfg.index) + " of " + std::to_string(cfg.count) +
                ": restarted during the aggregation of round " + std::to_string(round) +
                " (attempt " + std::to_string(attempt) + ")";
      spdlog::warn("round={} {}: asks the coordinator for a fresh group", round, r.error);
      try {
        const std::string text =
            nlohmann::json{{"shard", cfg.index}, {"shards", cfg.count},
                           {"attempt", attempt}, {"range", {cfg.range_begin, cfg.range_end}},
                           {"error", r.error},   {"retryable", true}}
                .dump();
        link.store().set(shard_result_key(round, cfg.index), text_bytes(text));
      } catch (const std::exception& e) {
        link.reset();
        spdlog::error("round={} shard {}: cannot publish its result: {}", round, cfg.index,
                      e.what());
      }
    } else {
      r = aggregate_attempt(spool, store, round, uploads, rule, global, backend, link, attempt,
                            retryable);
    }
    link.ran(round, attempt);
    if (r.error.empty() || !retryable) return r;
    // Failed for a collective: the coordinator either starts a fresh attempt or ends the round.
    for (;;) {
      if (Clock::now() - t0 >= limit) return r;
      try {
        if (decided()) return r;
        if (attempt_now() > attempt) break;
      } catch (const std::exception&) {
        link.reset();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    spdlog::info("round={} shard {}: attempt {} of the aggregation", round, cfg.index, attempt + 1);
  }
}

}  // namespace murmur::server

// The SecAgg+ stages of a round ([secagg] enabled): advertise -> share -> check -> masked ->
// unmask, each bounded by its deadline and ended early once every node it waits for has
// answered, then AGGREGATING runs the bucketed unmasking and the robust rule across group
// means. The protocol itself is murmur::secagg; this component (secagg_stages.hpp) routes its
// messages, with global node ids (the round's proposers in address order) mapped to each
// group's local ids, and tells the round engine which stage comes next.
//
// Nothing here stores or logs an update in clear: masked inputs stay in memory inside the
// group servers, and what is logged is who took part, who was excluded and why.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "murmur/chain/keccak.hpp"
#include "murmur/protocol/integrity.hpp"
#include "refuse.hpp"
#include "secagg_stages.hpp"

namespace murmur::server {
namespace {

secagg::Key32 key_field(const std::string& bytes, const char* what) {
  if (bytes.size() != 32) refuse(wire::ERR_MALFORMED, std::string(what) + " must be 32 bytes");
  secagg::Key32 k{};
  std::memcpy(k.data(), bytes.data(), 32);
  return k;
}

secagg::Point point_field(const std::string& bytes, const char* what) {
  const auto p = key_field(bytes, what);
  if (!secagg::is_valid_point(p))
    refuse(wire::ERR_MALFORMED, std::string(what) + " is not a ristretto255 point");
  return p;
}

std::vector<secagg::Point> points(const google::protobuf::RepeatedPtrField<std::string>& in,
                                  const char* what) {
  std::vector<secagg::Point> out;
  for (const auto& b : in) out.push_back(point_field(b, what));
  return out;
}

void set_keys(wire::SecAggKeys* k, const secagg::Advertisement& a) {
  k->set_local_id(a.id);
  k->set_c_public(a.c_public.data(), 32);
  k->set_s_public(a.s_public.data(), 32);
}

}  // namespace

std::set<secagg::NodeId> SecAggRound::u1() const {
  std::set<secagg::NodeId> out;
  for (std::size_t g = 0; g < server.plan().groups(); ++g)
    for (secagg::NodeId local : server.group(g).u1()) out.insert(server.plan().members(g)[local]);
  return out;
}

namespace {

SecAggStep enter(wire::Stage stage, std::chrono::milliseconds window) {
  return {SecAggStep::Kind::kEnter, stage, window, RoundOutcome::kFailed, ""};
}

SecAggStep end_round(RoundOutcome outcome, std::string reason) {
  return {SecAggStep::Kind::kEnd, wire::STAGE_UNSPECIFIED, {}, outcome, std::move(reason)};
}

}  // namespace

SecAggStep SecAggStages::begin(std::uint64_t round, const std::vector<chain::Address>& proposers,
                               const chain::Hash32& seed) {
  round_.reset();
  std::vector<secagg::NodeId> nodes;
  std::map<chain::Address, secagg::NodeId> ids;
  std::vector<chain::Address> addresses;
  for (const auto& address : proposers) {
    ids[address] = static_cast<secagg::NodeId>(addresses.size());
    nodes.push_back(ids[address]);
    addresses.push_back(address);
  }
  if (nodes.empty())
    return end_round(RoundOutcome::kNoQuorum, "SecAgg+: no proposer in this round");
  const secagg::BucketingConfig bc{cfg_.secagg.group_size, cfg_.secagg.degree,
                                   cfg_.secagg.threshold, cfg_.secagg.clip};
  // The round seed fixes the groups; its first 8 bytes are enough entropy for the shuffle.
  std::uint64_t s = 0;
  for (int i = 0; i < 8; ++i) s = (s << 8) | seed[i];
  std::unique_ptr<SecAggRound> next;
  try {
    next = std::make_unique<SecAggRound>(secagg::GroupPlan(nodes, bc, round, s, cfg_.parameters));
  } catch (const std::invalid_argument& e) {
    return end_round(RoundOutcome::kFailed, std::string("SecAgg+ cannot run: ") + e.what());
  }
  next->round = round;
  next->ids = std::move(ids);
  next->addresses = std::move(addresses);
  round_ = std::move(next);
  spdlog::info("round={} secagg groups={} nodes={}", round, round_->server.plan().groups(),
               nodes.size());
  return enter(wire::STAGE_SECAGG_ADVERTISE, cfg_.secagg.advertise_window);
}

SecAggStep SecAggStages::tick(const RoundState& now, std::int64_t now_ms) {
  if (!round_ || round_->round != now.round)
    return end_round(
        RoundOutcome::kFailed,
        "SecAgg+ state does not survive a restart (masked inputs are never written to disk)");
  const bool late = now_ms >= now.deadline_unix_ms;
  const auto covers = [](const std::set<secagg::NodeId>& have,
                         const std::set<secagg::NodeId>& want) {
    return std::includes(have.begin(), have.end(), want.begin(), want.end());
  };
  SecAggRound& r = *round_;
  switch (now.stage) {
    case wire::STAGE_SECAGG_ADVERTISE:
      if (late || r.advertised.size() == r.ids.size())
        return enter(wire::STAGE_SECAGG_SHARE, cfg_.secagg.share_window);
      break;
    case wire::STAGE_SECAGG_SHARE:
      if (late || covers(r.dealt, r.advertised))
        return enter(wire::STAGE_SECAGG_CHECK, cfg_.secagg.check_window);
      break;
    case wire::STAGE_SECAGG_CHECK:
      if (late || covers(r.checked, r.u1())) {
        for (std::size_t g = 0; g < r.server.plan().groups(); ++g)
          for (const auto& e : r.server.group(g).excluded())
            spdlog::warn("round={} secagg excluded {} (group {}): {}", now.round,
                         r.addresses[r.server.plan().members(g)[e.node]].to_checksum(), g,
                         e.reason);
        return enter(wire::STAGE_SECAGG_MASKED, cfg_.secagg.masked_window);
      }
      break;
    case wire::STAGE_SECAGG_MASKED:
      if (late || covers(r.masked_done, r.u1())) {
        r.masked.clear();  // partial inputs are of no use once the stage is over
        return enter(wire::STAGE_SECAGG_UNMASK, cfg_.secagg.unmask_window);
      }
      break;
    case wire::STAGE_SECAGG_UNMASK:
      if (late || covers(r.unmasked, r.u1())) {
        SecAggStep done;
        done.kind = SecAggStep::Kind::kAggregate;
        return done;
      }
      break;
    default: break;
  }
  return {};
}

namespace {

/// On the aggregation thread: the bucketed unmasking and the robust rule across group means,
/// the candidate stored in the spool; the groups' outcome travels back with the result.
AggregationResult aggregate_secagg_round(SecAggRound& r, Spool& spool, kernels::Backend& backend,
                                         const kernels::AggregationSpec& rule,
                                         const chain::Hash32& global) {
  AggregationResult out;
  const auto t0 = std::chrono::steady_clock::now();
  SecAggOutcome o;
  o.round = r.round;
  try {
    const auto& plan = r.server.plan();
    secagg::BucketedAggregate a;
    try {
      a = r.server.finish(backend, rule);
    } catch (const secagg::SecAggError& e) {
      out.error = e.what();
    }
    for (std::size_t g = 0; g < a.group_results.size(); ++g) {
      const auto& members = plan.members(g);
      const auto& res = a.group_results[g];
      for (const auto& e : res.excluded_at_sharing)
        o.excluded.push_back(r.addresses[members[e.node]].to_checksum() + ": " + e.reason);
      for (secagg::NodeId u : res.dropped) o.dropped.push_back(r.addresses[members[u]]);
    }
    for (std::size_t i = 0; i < a.contributing.size(); ++i) {
      const std::size_t g = a.contributing[i];
      o.group_sums.push_back(a.group_results[g].sum);
      std::vector<chain::Address> who;
      for (secagg::NodeId u : a.group_results[g].survivors)
        who.push_back(r.addresses[plan.members(g)[u]]);
      o.group_survivors.push_back(std::move(who));
    }
    o.failed_groups = a.failed;
    for (const auto& f : a.failed) spdlog::warn("round={} secagg {}", r.round, f);
    if (out.error.empty()) {
      std::vector<float> model = spool.load_model(global);
      for (std::size_t j = 0; j < model.size(); ++j) model[j] += a.aggregate[j];
      out.candidate = spool.store_model(model);
      spdlog::info("round={} secagg groups_aggregated={} failed={} rule=\"{}\"", r.round,
                   a.contributing.size(), a.failed.size(), kernels::describe(rule));
    }
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  out.secagg = std::move(o);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace

std::future<AggregationResult> SecAggStages::aggregate(Spool& spool, kernels::Backend& backend,
                                                       const chain::Hash32& global) {
  return std::async(std::launch::async, [r = std::shared_ptr<SecAggRound>(std::move(round_)),
                                         &spool, &backend, rule = cfg_.aggregation, global] {
    return aggregate_secagg_round(*r, spool, backend, rule, global);
  });
}

std::optional<wire::SecAggPlacement> SecAggStages::placement(const chain::Address& peer,
                                                             wire::Stage stage) const {
  if (!round_ || !is_secagg_stage(stage)) return std::nullopt;
  const auto id = round_->ids.find(peer);
  if (id == round_->ids.end()) return std::nullopt;
  const auto& plan = round_->server.plan();
  const auto at = plan.place(id->second);
  const secagg::Params p = plan.params(at.group);
  wire::SecAggPlacement out;
  out.set_group(static_cast<std::uint32_t>(at.group));
  out.set_local_id(at.local);
  out.set_group_size(p.nodes);
  out.set_degree(p.degree);
  out.set_threshold(p.threshold);
  out.set_graph_seed(p.graph_seed);
  out.set_clip(p.fixed_point.clip);
  return out;
}

secagg::GroupPlan::Placement SecAggStages::member(const chain::Address& peer,
                                                  std::uint64_t round) const {
  if (!round_ || !round_->ids.contains(peer))
    refuse(wire::ERR_NOT_PROPOSER,
           peer.to_checksum() + " is not in round " + std::to_string(round) + "'s SecAgg+ groups");
  return round_->server.plan().place(round_->ids.at(peer));
}

wire::Envelope SecAggStages::on_advertise(Request& r, const RoundState& now) {
  const auto& a = r.message.envelope.secagg_advertise();
  const auto at = member(r.peer, now.round);
  if (a.keys().local_id() != at.local)
    refuse(wire::ERR_MALFORMED, "keys for node " + std::to_string(a.keys().local_id()) +
                                    ", this node is " + std::to_string(at.local) + " in group " +
                                    std::to_string(at.group));
  const secagg::NodeId id = round_->ids.at(r.peer);
  if (round_->advertised.contains(id))
    refuse(wire::ERR_DUPLICATE, "keys already advertised this round");
  round_->server.group(at.group).receive_advertisement(
      {at.local, point_field(a.keys().c_public(), "c_public"),
       point_field(a.keys().s_public(), "s_public")});
  round_->advertised.insert(id);
  wire::Envelope out;
  out.mutable_secagg_accepted();
  return out;
}

void SecAggStages::refuse_nothing_to_fetch(Request&, const RoundState& now) {
  if (!is_secagg_stage(now.stage) || now.stage == wire::STAGE_SECAGG_ADVERTISE)
    refuse(wire::ERR_WRONG_STAGE, "nothing to fetch: round " + std::to_string(now.round) + " is " +
                                      wire::Stage_Name(now.stage));
}

wire::Envelope SecAggStages::on_fetch(Request& r, const RoundState& now) {
  const auto at = member(r.peer, now.round);
  secagg::Server& g = round_->server.group(at.group);
  wire::Envelope out;
  auto* v = out.mutable_secagg_view();
  v->set_stage(now.stage);
  if (now.stage == wire::STAGE_SECAGG_SHARE) {
    for (const auto& a : g.advertisements_for(at.local)) set_keys(v->add_neighbours(), a);
  } else if (now.stage == wire::STAGE_SECAGG_CHECK) {
    for (const auto& d : g.shares_for(at.local)) {
      auto* w = v->add_deliveries();
      for (const auto& c : d.self_commitments) w->add_self_commitments(c.data(), 32);
      for (const auto& c : d.key_commitments) w->add_key_commitments(c.data(), 32);
      w->mutable_box()->set_from(d.box.from);
      w->mutable_box()->set_to(d.box.to);
      w->mutable_box()->set_box(d.box.box.data(), d.box.box.size());
    }
  } else if (now.stage == wire::STAGE_SECAGG_MASKED) {
    for (secagg::NodeId u : g.u1()) v->add_u1(u);
  } else {
    const auto req = g.unmask_request();
    for (secagg::NodeId u : req.survivors) v->add_survivors(u);
    for (secagg::NodeId u : req.dropped) v->add_dropped(u);
  }
  return out;
}

wire::Envelope SecAggStages::on_dealing(Request& r, const RoundState& now) {
  const auto& d = r.message.envelope.secagg_dealing();
  const auto at = member(r.peer, now.round);
  const secagg::NodeId id = round_->ids.at(r.peer);
  if (round_->dealt.contains(id)) refuse(wire::ERR_DUPLICATE, "keys already dealt this round");
  if (!round_->advertised.contains(id))
    refuse(wire::ERR_WRONG_STAGE, "no keys were advertised by this node");
  secagg::KeyDealing k;
  k.from = at.local;
  k.self_commitments = points(d.self_commitments(), "self_commitments");
  k.key_commitments = points(d.key_commitments(), "key_commitments");
  for (const auto& b : d.boxes())
    k.boxes.push_back({b.from(), b.to(), {b.box().begin(), b.box().end()}});
  secagg::Server& g = round_->server.group(at.group);
  g.receive_shares(at.local, k);
  round_->dealt.insert(id);
  for (const auto& x : g.excluded())
    if (x.node == at.local)
      refuse(wire::ERR_MALFORMED, "dealing refused, this node is out of the round: " + x.reason);
  wire::Envelope out;
  out.mutable_secagg_accepted();
  return out;
}

wire::Envelope SecAggStages::on_checked(Request& r, const RoundState& now) {
  const auto& c = r.message.envelope.secagg_checked();
  const auto at = member(r.peer, now.round);
  const secagg::NodeId id = round_->ids.at(r.peer);
  if (round_->checked.contains(id)) refuse(wire::ERR_DUPLICATE, "check already sent this round");
  secagg::Server& g = round_->server.group(at.group);
  std::vector<secagg::Complaint> complaints;
  for (const auto& w : c.complaints()) {
    if (w.dealer() >= g.params().nodes)
      refuse(wire::ERR_MALFORMED, "complaint about an unknown node");
    complaints.push_back({at.local, w.dealer(), key_field(w.box_point(), "box_point"),
                          key_field(w.proof_e(), "proof_e"), key_field(w.proof_z(), "proof_z")});
  }
  for (const auto& x : complaints) g.receive_complaint(x);
  round_->checked.insert(id);
  wire::Envelope out;
  out.mutable_secagg_accepted();
  return out;
}

wire::Envelope SecAggStages::on_masked_chunk(Request& r, const RoundState& now) {
  const auto& c = r.message.envelope.secagg_masked_chunk();
  const auto at = member(r.peer, now.round);
  const secagg::NodeId id = round_->ids.at(r.peer);
  if (!round_->server.group(at.group).u1().contains(at.local))
    refuse(wire::ERR_WRONG_STAGE,
           "this node is not in U1 (no dealing stood): it sends no input this round");
  if (round_->masked_done.contains(id))
    refuse(wire::ERR_DUPLICATE, "masked input already complete");
  const auto bytes = r.message.bytes();
  if (bytes.empty() || bytes.size() % 4 != 0)
    refuse(wire::ERR_MALFORMED, "masked chunks hold whole 4-byte words");
  const protocol::Checksum sum = protocol::chunk_checksum(bytes);
  if (c.checksum().size() != sum.size() ||
      std::memcmp(c.checksum().data(), sum.data(), sum.size()) != 0)
    refuse(wire::ERR_BAD_CHECKSUM,
           "masked chunk at word " + std::to_string(c.offset()) + " does not match its checksum");
  auto& words = round_->masked[id];
  if (c.offset() != words.size())
    refuse(c.offset() < words.size() ? wire::ERR_REPLAY : wire::ERR_OUT_OF_RANGE,
           "expected the masked chunk at word " + std::to_string(words.size()));
  if (c.offset() + bytes.size() / 4 > cfg_.parameters)
    refuse(wire::ERR_OUT_OF_RANGE,
           "masked input longer than the model's " + std::to_string(cfg_.parameters) + " words");
  const std::size_t at_word = words.size();
  words.resize(at_word + bytes.size() / 4);
  std::memcpy(words.data() + at_word, bytes.data(), bytes.size());  // little-endian hosts only
  metrics_.bytes_in(bytes.size());
  wire::Envelope out;
  out.mutable_secagg_accepted()->set_words(words.size());
  if (words.size() == cfg_.parameters) {
    round_->server.group(at.group).receive_masked(at.local, std::move(words));
    round_->masked.erase(id);
    round_->masked_done.insert(id);
  }
  return out;
}

wire::Envelope SecAggStages::on_unmask_shares(Request& r, const RoundState& now) {
  const auto& u = r.message.envelope.secagg_unmask_shares();
  const auto at = member(r.peer, now.round);
  const secagg::NodeId id = round_->ids.at(r.peer);
  if (round_->unmasked.contains(id))
    refuse(wire::ERR_DUPLICATE, "shares already returned this round");
  secagg::UnmaskReply reply;
  reply.from = at.local;
  for (const auto& v : u.self_shares()) reply.self_shares[v.dealer()] = key_field(v.y(), "share");
  for (const auto& v : u.key_shares()) reply.key_shares[v.dealer()] = key_field(v.y(), "share");
  round_->server.group(at.group).receive_unmask(reply);
  round_->unmasked.insert(id);
  wire::Envelope out;
  out.mutable_secagg_accepted();
  return out;
}

}  // namespace murmur::server

// The SecAgg+ stages of a round ([secagg] enabled): advertise -> share -> check -> masked ->
// unmask, each bounded by its deadline and ended early once every node it waits for has
// answered, then AGGREGATING runs the bucketed unmasking and the robust rule across group
// means. The protocol itself is murmur::secagg; this file routes its messages, with global
// node ids (the round's proposers in address order) mapped to each group's local ids.
//
// Nothing here stores or logs an update in clear: masked inputs stay in memory inside the
// group servers, and what is logged is who took part, who was excluded and why.
#include <spdlog/spdlog.h>

#include <cstring>

#include "murmur/chain/keccak.hpp"
#include "murmur/protocol/integrity.hpp"
#include "refuse.hpp"
#include "server_impl.hpp"

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

void Server::Impl::begin_secagg(std::uint64_t round) {
  secagg.reset();
  std::vector<secagg::NodeId> nodes;
  std::map<chain::Address, secagg::NodeId> ids;
  std::vector<chain::Address> addresses;
  for (const auto& [address, stake] : stakes)
    if (role_of(address) == wire::ROLE_PROPOSER) {
      ids[address] = static_cast<secagg::NodeId>(addresses.size());
      nodes.push_back(ids[address]);
      addresses.push_back(address);
    }
  if (nodes.empty())
    return end_round(RoundOutcome::kNoQuorum, "SecAgg+: no proposer in this round");
  const secagg::BucketingConfig bc{cfg.secagg.group_size, cfg.secagg.degree, cfg.secagg.threshold,
                                   cfg.secagg.clip};
  // The round seed fixes the groups; its first 8 bytes are enough entropy for the shuffle.
  const auto seed_bytes = seed(round);
  std::uint64_t s = 0;
  for (int i = 0; i < 8; ++i) s = (s << 8) | seed_bytes[i];
  std::unique_ptr<SecAggRound> next;
  try {
    next = std::make_unique<SecAggRound>(secagg::GroupPlan(nodes, bc, round, s, cfg.parameters));
  } catch (const std::invalid_argument& e) {
    return end_round(RoundOutcome::kFailed, std::string("SecAgg+ cannot run: ") + e.what());
  }
  next->round = round;
  next->ids = std::move(ids);
  next->addresses = std::move(addresses);
  secagg = std::move(next);
  spdlog::info("round={} secagg groups={} nodes={}", round, secagg->server.plan().groups(),
               nodes.size());
  enter_secagg_stage(wire::STAGE_SECAGG_ADVERTISE, cfg.secagg.advertise_window);
}

void Server::Impl::enter_secagg_stage(wire::Stage stage, std::chrono::milliseconds window) {
  state.stage = stage;
  state.deadline_unix_ms = unix_ms() + window.count();
  stage_started = Clock::now();
  save_state();
  spdlog::info("round={} stage={} deadline_ms={}", state.round, wire::Stage_Name(stage),
               window.count());
}

void Server::Impl::secagg_tick(std::int64_t now_ms, double elapsed) {
  if (!secagg || secagg->round != state.round)
    return end_round(
        RoundOutcome::kFailed,
        "SecAgg+ state does not survive a restart (masked inputs are never written to disk)");
  const bool late = now_ms >= state.deadline_unix_ms;
  const auto covers = [](const std::set<secagg::NodeId>& have,
                         const std::set<secagg::NodeId>& want) {
    return std::includes(have.begin(), have.end(), want.begin(), want.end());
  };
  SecAggRound& r = *secagg;
  const auto next = [&](wire::Stage stage, std::chrono::milliseconds window) {
    metrics.stage_seconds(wire::Stage_Name(state.stage), elapsed);
    enter_secagg_stage(stage, window);
  };
  switch (state.stage) {
    case wire::STAGE_SECAGG_ADVERTISE:
      if (late || r.advertised.size() == r.ids.size())
        next(wire::STAGE_SECAGG_SHARE, cfg.secagg.share_window);
      break;
    case wire::STAGE_SECAGG_SHARE:
      if (late || covers(r.dealt, r.advertised))
        next(wire::STAGE_SECAGG_CHECK, cfg.secagg.check_window);
      break;
    case wire::STAGE_SECAGG_CHECK:
      if (late || covers(r.checked, r.u1())) {
        for (std::size_t g = 0; g < r.server.plan().groups(); ++g)
          for (const auto& e : r.server.group(g).excluded())
            spdlog::warn("round={} secagg excluded {} (group {}): {}", state.round,
                         r.addresses[r.server.plan().members(g)[e.node]].to_checksum(), g,
                         e.reason);
        next(wire::STAGE_SECAGG_MASKED, cfg.secagg.masked_window);
      }
      break;
    case wire::STAGE_SECAGG_MASKED:
      if (late || covers(r.masked_done, r.u1())) {
        r.masked.clear();  // partial inputs are of no use once the stage is over
        next(wire::STAGE_SECAGG_UNMASK, cfg.secagg.unmask_window);
      }
      break;
    case wire::STAGE_SECAGG_UNMASK:
      if (late || covers(r.unmasked, r.u1())) {
        metrics.stage_seconds(wire::Stage_Name(state.stage), elapsed);
        stage_started = Clock::now();
        start_secagg_aggregation();
      }
      break;
    default:
      break;
  }
}

namespace {

/// On the aggregation thread: the bucketed unmasking and the robust rule across group means,
/// the candidate stored in the spool; the groups' outcome travels back with the result.
AggregationResult aggregate_secagg_round(SecAggRound& r, Spool& spool, kernels::Backend& backend,
                                         const kernels::AggregationSpec& rule,
                                         const chain::Hash32& global) {
  AggregationResult out;
  const auto t0 = Clock::now();
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
  out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return out;
}

}  // namespace

void Server::Impl::start_secagg_aggregation() {
  state.stage = wire::STAGE_AGGREGATING;
  save_state();
  aggregation =
      std::async(std::launch::async,
                 [r = std::shared_ptr<SecAggRound>(std::move(secagg)), &spool = spool,
                  &backend = *backend, rule = cfg.aggregation, global = state.global_model] {
                   return aggregate_secagg_round(*r, spool, backend, rule, global);
                 });
}

std::optional<wire::SecAggPlacement> Server::Impl::placement(const chain::Address& peer) const {
  if (!secagg || !is_secagg_stage(state.stage)) return std::nullopt;
  const auto id = secagg->ids.find(peer);
  if (id == secagg->ids.end()) return std::nullopt;
  const auto& plan = secagg->server.plan();
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

secagg::GroupPlan::Placement Server::Impl::secagg_member(const chain::Address& peer) const {
  if (!secagg || !secagg->ids.contains(peer))
    refuse(wire::ERR_NOT_PROPOSER, peer.to_checksum() + " is not in round " +
                                       std::to_string(state.round) + "'s SecAgg+ groups");
  return secagg->server.plan().place(secagg->ids.at(peer));
}

wire::Envelope Server::Impl::on_secagg_advertise(Request& r) {
  const auto& a = r.message.envelope.secagg_advertise();
  const auto at = secagg_member(r.peer);
  if (a.keys().local_id() != at.local)
    refuse(wire::ERR_MALFORMED, "keys for node " + std::to_string(a.keys().local_id()) +
                                    ", this node is " + std::to_string(at.local) + " in group " +
                                    std::to_string(at.group));
  const secagg::NodeId id = secagg->ids.at(r.peer);
  if (secagg->advertised.contains(id))
    refuse(wire::ERR_DUPLICATE, "keys already advertised this round");
  secagg->server.group(at.group).receive_advertisement(
      {at.local, point_field(a.keys().c_public(), "c_public"),
       point_field(a.keys().s_public(), "s_public")});
  secagg->advertised.insert(id);
  wire::Envelope out;
  out.mutable_secagg_accepted();
  return out;
}

void Server::Impl::refuse_nothing_to_fetch(Request&) {
  if (!is_secagg_stage(state.stage) || state.stage == wire::STAGE_SECAGG_ADVERTISE)
    refuse(wire::ERR_WRONG_STAGE, "nothing to fetch: round " + std::to_string(state.round) +
                                      " is " + wire::Stage_Name(state.stage));
}

wire::Envelope Server::Impl::on_secagg_fetch(Request& r) {
  const auto at = secagg_member(r.peer);
  secagg::Server& g = secagg->server.group(at.group);
  wire::Envelope out;
  auto* v = out.mutable_secagg_view();
  v->set_stage(state.stage);
  if (state.stage == wire::STAGE_SECAGG_SHARE) {
    for (const auto& a : g.advertisements_for(at.local)) set_keys(v->add_neighbours(), a);
  } else if (state.stage == wire::STAGE_SECAGG_CHECK) {
    for (const auto& d : g.shares_for(at.local)) {
      auto* w = v->add_deliveries();
      for (const auto& c : d.self_commitments) w->add_self_commitments(c.data(), 32);
      for (const auto& c : d.key_commitments) w->add_key_commitments(c.data(), 32);
      w->mutable_box()->set_from(d.box.from);
      w->mutable_box()->set_to(d.box.to);
      w->mutable_box()->set_box(d.box.box.data(), d.box.box.size());
    }
  } else if (state.stage == wire::STAGE_SECAGG_MASKED) {
    for (secagg::NodeId u : g.u1()) v->add_u1(u);
  } else {
    const auto req = g.unmask_request();
    for (secagg::NodeId u : req.survivors) v->add_survivors(u);
    for (secagg::NodeId u : req.dropped) v->add_dropped(u);
  }
  return out;
}

wire::Envelope Server::Impl::on_secagg_dealing(Request& r) {
  const auto& d = r.message.envelope.secagg_dealing();
  const auto at = secagg_member(r.peer);
  const secagg::NodeId id = secagg->ids.at(r.peer);
  if (secagg->dealt.contains(id)) refuse(wire::ERR_DUPLICATE, "keys already dealt this round");
  if (!secagg->advertised.contains(id))
    refuse(wire::ERR_WRONG_STAGE, "no keys were advertised by this node");
  secagg::KeyDealing k;
  k.from = at.local;
  k.self_commitments = points(d.self_commitments(), "self_commitments");
  k.key_commitments = points(d.key_commitments(), "key_commitments");
  for (const auto& b : d.boxes())
    k.boxes.push_back({b.from(), b.to(), {b.box().begin(), b.box().end()}});
  secagg::Server& g = secagg->server.group(at.group);
  g.receive_shares(at.local, k);
  secagg->dealt.insert(id);
  for (const auto& x : g.excluded())
    if (x.node == at.local)
      refuse(wire::ERR_MALFORMED, "dealing refused, this node is out of the round: " + x.reason);
  wire::Envelope out;
  out.mutable_secagg_accepted();
  return out;
}

wire::Envelope Server::Impl::on_secagg_checked(Request& r) {
  const auto& c = r.message.envelope.secagg_checked();
  const auto at = secagg_member(r.peer);
  const secagg::NodeId id = secagg->ids.at(r.peer);
  if (secagg->checked.contains(id)) refuse(wire::ERR_DUPLICATE, "check already sent this round");
  secagg::Server& g = secagg->server.group(at.group);
  std::vector<secagg::Complaint> complaints;
  for (const auto& w : c.complaints()) {
    if (w.dealer() >= g.params().nodes)
      refuse(wire::ERR_MALFORMED, "complaint about an unknown node");
    complaints.push_back({at.local, w.dealer(), key_field(w.box_point(), "box_point"),
                          key_field(w.proof_e(), "proof_e"), key_field(w.proof_z(), "proof_z")});
  }
  for (const auto& x : complaints) g.receive_complaint(x);
  secagg->checked.insert(id);
  wire::Envelope out;
  out.mutable_secagg_accepted();
  return out;
}

wire::Envelope Server::Impl::on_secagg_masked_chunk(Request& r) {
  const auto& c = r.message.envelope.secagg_masked_chunk();
  const auto at = secagg_member(r.peer);
  const secagg::NodeId id = secagg->ids.at(r.peer);
  if (!secagg->server.group(at.group).u1().contains(at.local))
    refuse(wire::ERR_WRONG_STAGE,
           "this node is not in U1 (no dealing stood): it sends no input this round");
  if (secagg->masked_done.contains(id))
    refuse(wire::ERR_DUPLICATE, "masked input already complete");
  const auto bytes = r.message.bytes();
  if (bytes.empty() || bytes.size() % 4 != 0)
    refuse(wire::ERR_MALFORMED, "masked chunks hold whole 4-byte words");
  const protocol::Checksum sum = protocol::chunk_checksum(bytes);
  if (c.checksum().size() != sum.size() ||
      std::memcmp(c.checksum().data(), sum.data(), sum.size()) != 0)
    refuse(wire::ERR_BAD_CHECKSUM,
           "masked chunk at word " + std::to_string(c.offset()) + " does not match its checksum");
  auto& words = secagg->masked[id];
  if (c.offset() != words.size())
    refuse(c.offset() < words.size() ? wire::ERR_REPLAY : wire::ERR_OUT_OF_RANGE,
           "expected the masked chunk at word " + std::to_string(words.size()));
  if (c.offset() + bytes.size() / 4 > cfg.parameters)
    refuse(wire::ERR_OUT_OF_RANGE,
           "masked input longer than the model's " + std::to_string(cfg.parameters) + " words");
  const std::size_t at_word = words.size();
  words.resize(at_word + bytes.size() / 4);
  std::memcpy(words.data() + at_word, bytes.data(), bytes.size());  // little-endian hosts only
  metrics.bytes_in(bytes.size());
  wire::Envelope out;
  out.mutable_secagg_accepted()->set_words(words.size());
  if (words.size() == cfg.parameters) {
    secagg->server.group(at.group).receive_masked(at.local, std::move(words));
    secagg->masked.erase(id);
    secagg->masked_done.insert(id);
  }
  return out;
}

wire::Envelope Server::Impl::on_secagg_unmask_shares(Request& r) {
  const auto& u = r.message.envelope.secagg_unmask_shares();
  const auto at = secagg_member(r.peer);
  const secagg::NodeId id = secagg->ids.at(r.peer);
  if (secagg->unmasked.contains(id))
    refuse(wire::ERR_DUPLICATE, "shares already returned this round");
  secagg::UnmaskReply reply;
  reply.from = at.local;
  for (const auto& v : u.self_shares()) reply.self_shares[v.dealer()] = key_field(v.y(), "share");
  for (const auto& v : u.key_shares()) reply.key_shares[v.dealer()] = key_field(v.y(), "share");
  secagg->server.group(at.group).receive_unmask(reply);
  secagg->unmasked.insert(id);
  wire::Envelope out;
  out.mutable_secagg_accepted();
  return out;
}

}  // namespace murmur::server

#include "murmur/client/secagg_node.hpp"

#include <cstring>
#include <string>
#include <thread>

#include "murmur/protocol/integrity.hpp"

namespace murmur::client {
namespace {

bool is_secagg(wire::Stage s) {
  return s >= wire::STAGE_SECAGG_ADVERTISE && s <= wire::STAGE_SECAGG_UNMASK;
}

secagg::Key32 key_of(const std::string& bytes, const char* what) {
  if (bytes.size() != 32)
    throw ServerError(wire::ERR_MALFORMED, std::string("SecAgg+: the server sent a ") + what +
                                               " of " + std::to_string(bytes.size()) +
                                               " bytes, not 32");
  secagg::Key32 k{};
  std::memcpy(k.data(), bytes.data(), 32);
  return k;
}

std::vector<secagg::Point> points_of(const google::protobuf::RepeatedPtrField<std::string>& in) {
  std::vector<secagg::Point> out;
  for (const auto& b : in) out.push_back(key_of(b, "commitment"));
  return out;
}

/// A write the server may already have taken when an earlier attempt's reply was lost.
void expect_accepted(const protocol::Message& reply) {
  if (reply.envelope.has_error() && reply.envelope.error().code() != wire::ERR_DUPLICATE)
    throw ServerError(reply.envelope.error().code(), reply.envelope.error().message());
}

}  // namespace

SecAggNode::SecAggNode(NodeClient& client, std::uint64_t task_id, std::uint64_t round,
                       SecAggNodeOptions options)
    : client_(client),
      task_(task_id),
      round_(round),
      options_(options),
      cpu_(kernels::make_cpu_backend(1)) {
  wait_for(wire::STAGE_SECAGG_ADVERTISE);
  const wire::RoundInfo info = client_.round_info();
  if (!info.has_secagg())
    throw std::runtime_error("SecAgg+: this node is not in round " + std::to_string(round) +
                             "'s groups");
  placement_ = info.secagg();
  dimension_ = info.parameters();
  chunk_words_ = std::max<std::size_t>(1, info.chunk_bytes() / 4);
  secagg::Params p;
  p.nodes = placement_.group_size();
  p.degree = placement_.degree();
  p.threshold = placement_.threshold();
  p.round = round;
  p.graph_seed = placement_.graph_seed();
  p.fixed_point = {placement_.clip(), placement_.group_size()};
  p.dimension = dimension_;
  node_ = std::make_unique<secagg::Client>(placement_.local_id(), p);
}

SecAggNode::~SecAggNode() = default;

void SecAggNode::wait_for(wire::Stage stage) {
  const auto end = std::chrono::steady_clock::now() + options_.stage_timeout;
  for (;;) {
    const wire::RoundInfo info = client_.round_info();
    if (info.round() == round_ && info.stage() == stage) return;
    // SecAgg+ stages are numbered in the order they run; anything else comes after them.
    if (info.round() > round_ ||
        (info.round() == round_ && (!is_secagg(info.stage()) || info.stage() > stage)))
      throw std::runtime_error("SecAgg+: " + wire::Stage_Name(stage) + " of round " +
                               std::to_string(round_) + " is over (the server is at round " +
                               std::to_string(info.round()) + ", " +
                               wire::Stage_Name(info.stage()) + ")");
    if (std::chrono::steady_clock::now() >= end)
      throw TimeoutError("SecAgg+: " + wire::Stage_Name(stage) + " of round " +
                         std::to_string(round_) + " did not open within " +
                         std::to_string(options_.stage_timeout.count()) + " ms");
    std::this_thread::sleep_for(options_.poll);
  }
}

wire::SecAggView SecAggNode::fetch() {
  wire::Envelope e;
  e.mutable_secagg_fetch()->set_task_id(task_);
  e.mutable_secagg_fetch()->set_round(round_);
  auto reply = client_.exchange(std::move(e), wire::Envelope::kSecaggView, "SecAggFetch");
  return std::move(*reply.envelope.mutable_secagg_view());
}

void SecAggNode::advertise() {
  wait_for(wire::STAGE_SECAGG_ADVERTISE);
  const auto ad = node_->advertise();
  wire::Envelope e;
  auto* a = e.mutable_secagg_advertise();
  a->set_task_id(task_);
  a->set_round(round_);
  a->mutable_keys()->set_local_id(ad.id);
  a->mutable_keys()->set_c_public(ad.c_public.data(), 32);
  a->mutable_keys()->set_s_public(ad.s_public.data(), 32);
  expect_accepted(
      client_.exchange(std::move(e), wire::Envelope::kSecaggAccepted, "SecAggAdvertise"));
}

void SecAggNode::share_keys() {
  wait_for(wire::STAGE_SECAGG_SHARE);
  const auto view = fetch();
  std::vector<secagg::Advertisement> ads;
  for (const auto& k : view.neighbours())
    ads.push_back(
        {k.local_id(), key_of(k.c_public(), "c_public"), key_of(k.s_public(), "s_public")});
  const secagg::KeyDealing d = node_->share_keys(ads);
  wire::Envelope e;
  auto* w = e.mutable_secagg_dealing();
  w->set_task_id(task_);
  w->set_round(round_);
  for (const auto& c : d.self_commitments) w->add_self_commitments(c.data(), 32);
  for (const auto& c : d.key_commitments) w->add_key_commitments(c.data(), 32);
  for (const auto& b : d.boxes) {
    auto* box = w->add_boxes();
    box->set_from(b.from);
    box->set_to(b.to);
    box->set_box(b.box.data(), b.box.size());
  }
  expect_accepted(client_.exchange(std::move(e), wire::Envelope::kSecaggAccepted, "SecAggDealing"));
}

std::size_t SecAggNode::check_shares() {
  wait_for(wire::STAGE_SECAGG_CHECK);
  const auto view = fetch();
  std::vector<secagg::ShareDelivery> deliveries;
  for (const auto& d : view.deliveries())
    deliveries.push_back(
        {points_of(d.self_commitments()),
         points_of(d.key_commitments()),
         {d.box().from(), d.box().to(), {d.box().box().begin(), d.box().box().end()}}});
  const auto complaints = node_->receive_shares(deliveries);
  wire::Envelope e;
  auto* c = e.mutable_secagg_checked();
  c->set_task_id(task_);
  c->set_round(round_);
  for (const auto& x : complaints) {
    auto* w = c->add_complaints();
    w->set_dealer(x.dealer);
    w->set_box_point(x.box_point.data(), 32);
    w->set_proof_e(x.proof_e.data(), 32);
    w->set_proof_z(x.proof_z.data(), 32);
  }
  expect_accepted(client_.exchange(std::move(e), wire::Envelope::kSecaggAccepted, "SecAggChecked"));
  return complaints.size();
}

void SecAggNode::send_masked_input(std::span<const float> update) {
  if (update.size() != dimension_)
    throw std::invalid_argument("SecAgg+: update of " + std::to_string(update.size()) +
                                " values, the model has " + std::to_string(dimension_));
  wait_for(wire::STAGE_SECAGG_MASKED);
  const auto view = fetch();
  const std::set<secagg::NodeId> u1(view.u1().begin(), view.u1().end());
  const std::vector<std::uint32_t> y = node_->masked_input(*cpu_, update, u1);
  for (std::size_t at = 0; at < y.size(); at += chunk_words_) {
    const std::size_t n = std::min(chunk_words_, y.size() - at);
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(y.data() + at),
                                              n * 4);
    const auto sum = protocol::chunk_checksum(bytes);
    wire::Envelope e;
    auto* c = e.mutable_secagg_masked_chunk();
    c->set_task_id(task_);
    c->set_round(round_);
    c->set_offset(at);
    c->set_checksum(sum.data(), sum.size());
    expect_accepted(client_.exchange(std::move(e), wire::Envelope::kSecaggAccepted,
                                     "SecAggMaskedChunk", bytes));
  }
}

void SecAggNode::unmask() {
  wait_for(wire::STAGE_SECAGG_UNMASK);
  const auto view = fetch();
  secagg::UnmaskRequest req;
  req.survivors.assign(view.survivors().begin(), view.survivors().end());
  req.dropped.assign(view.dropped().begin(), view.dropped().end());
  const secagg::UnmaskReply r = node_->unmask(req);
  wire::Envelope e;
  auto* w = e.mutable_secagg_unmask_shares();
  w->set_task_id(task_);
  w->set_round(round_);
  for (const auto& [u, y] : r.self_shares) {
    auto* v = w->add_self_shares();
    v->set_dealer(u);
    v->set_y(y.data(), 32);
  }
  for (const auto& [u, y] : r.key_shares) {
    auto* v = w->add_key_shares();
    v->set_dealer(u);
    v->set_y(y.data(), 32);
  }
  expect_accepted(
      client_.exchange(std::move(e), wire::Envelope::kSecaggAccepted, "SecAggUnmaskShares"));
}

std::vector<std::uint32_t> SecAggNode::quantized(std::span<const float> update) const {
  return node_->quantized(*cpu_, update);
}

}  // namespace murmur::client

// The voters' read of the round's updates (UpdateListRequest, UpdateRequest; protocol/README.md,
// "Flows"): a voter judges each committed update on its own held-out rows and objects to the
// harmful ones in its AllianceTaskV2 vote. Read-only: the list comes from the state store, the
// bytes from the spool file of the committed upload, a range of at most chunk_bytes a reply.
// The table (stage_table.cpp) already refused a non-participant, another task or round, and any
// stage but VOTING; here the role, the fields and the ranges.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "refuse.hpp"
#include "server_impl.hpp"

namespace murmur::server {

namespace {

constexpr std::uint32_t kUpdateListPage = 256;  ///< entries a reply: ~200 bytes each

chain::Address address_field(const std::string& bytes, const char* what) {
  if (bytes.size() != 20) refuse(wire::ERR_MALFORMED, std::string(what) + " must be 20 bytes");
  chain::Address a;
  std::memcpy(a.bytes.data(), bytes.data(), a.bytes.size());
  return a;
}

}  // namespace

void Server::Impl::refuse_non_voter(const Request& r) const {
  if (role_of(r.peer) != wire::ROLE_VOTER)
    refuse(wire::ERR_NOT_VOTER, r.peer.to_checksum() + " is a proposer in round " +
                                    std::to_string(state.round) +
                                    ": only the round's voters read its updates");
  if (cfg.shard)
    refuse(wire::ERR_NOT_FOUND,
           "this murmurd is a shard: it holds a part of each update, not the signed update");
}

wire::Envelope Server::Impl::on_update_list_request(Request& r) {
  refuse_non_voter(r);
  const wire::UpdateListRequest& q = r.message.envelope.update_list_request();
  const std::vector<Upload> uploads = store.committed(state.round);  // sorted by address
  if (q.first() > uploads.size())
    refuse(wire::ERR_OUT_OF_RANGE, "entry " + std::to_string(q.first()) + " asked, round " +
                                       std::to_string(state.round) + " has " +
                                       std::to_string(uploads.size()) + " committed updates");
  const std::vector<chain::Address> included = included_updates(store, state.round);
  wire::Envelope out;
  auto* list = out.mutable_update_list();
  list->set_task_id(cfg.task_id);
  list->set_round(state.round);
  list->set_candidate_model_hash(state.candidate_model.data(), state.candidate_model.size());
  list->set_total(static_cast<std::uint32_t>(uploads.size()));
  list->set_first(q.first());
  const std::size_t end = std::min<std::size_t>(uploads.size(), q.first() + kUpdateListPage);
  for (std::size_t i = q.first(); i < end; ++i) {
    const Upload& u = uploads[i];
    auto* e = list->add_updates();
    e->set_proposer(u.address.bytes.data(), u.address.bytes.size());
    e->set_update_hash(u.update_hash.data(), u.update_hash.size());
    e->set_num_samples(u.num_samples);
    e->set_signature(u.signature.data(), u.signature.size());
    e->set_dtype(u.dtype);
    e->set_total_bytes(u.total_bytes());
    e->set_included(std::binary_search(included.begin(), included.end(), u.address));
  }
  return out;
}

wire::Envelope Server::Impl::on_update_request(Request& r) {
  refuse_non_voter(r);
  const wire::UpdateRequest& q = r.message.envelope.update_request();
  const chain::Address proposer = address_field(q.proposer(), "proposer");
  const auto u = store.upload(state.round, proposer);
  if (!u || u->state != UploadState::kCommitted)
    refuse(wire::ERR_NOT_FOUND, "no committed update of " + proposer.to_checksum() + " in round " +
                                    std::to_string(state.round));
  const std::uint64_t total = u->total_bytes();
  if (q.length() > cfg.chunk_bytes)
    refuse(wire::ERR_TOO_LARGE, "ranges are at most " + std::to_string(cfg.chunk_bytes) + " bytes");
  if (q.offset() > total)
    refuse(wire::ERR_OUT_OF_RANGE, "offset " + std::to_string(q.offset()) + " past the update's " +
                                       std::to_string(total) + " bytes");
  const std::uint64_t length = std::min<std::uint64_t>(q.length(), total - q.offset());
  r.payload.resize(static_cast<std::size_t>(length));
  const auto file = spool.file(*u);
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    refuse(wire::ERR_INTERNAL,
           "cannot open the spool file of " + proposer.to_checksum() + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < length) {
    const auto n =
        ::pread(fd, r.payload.data() + done, length - done, static_cast<off_t>(q.offset() + done));
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (done != length)
    refuse(wire::ERR_INTERNAL, "the spool file of " + proposer.to_checksum() + " is shorter than " +
                                   std::to_string(total) + " bytes");
  wire::Envelope out;
  auto* c = out.mutable_update_chunk();
  c->set_proposer(q.proposer());
  c->set_update_hash(u->update_hash.data(), u->update_hash.size());
  c->set_offset(q.offset());
  c->set_total(total);
  return out;
}

}  // namespace murmur::server

#include "murmur/chain/transaction.hpp"

#include <stdexcept>

#include "murmur/chain/keccak.hpp"
#include "murmur/chain/rlp.hpp"

namespace murmur::chain {
namespace {

std::vector<Bytes> unsigned_fields(const Eip1559Transaction& tx) {
  std::vector<Bytes> f;
  f.push_back(rlp::encode_uint(tx.chain_id));
  f.push_back(rlp::encode_uint(tx.nonce));
  f.push_back(rlp::encode_uint(tx.max_priority_fee_per_gas));
  f.push_back(rlp::encode_uint(tx.max_fee_per_gas));
  f.push_back(rlp::encode_uint(tx.gas_limit));
  f.push_back(tx.to ? rlp::encode_bytes(tx.to->bytes) : rlp::encode_bytes({}));
  f.push_back(rlp::encode_uint(tx.value));
  f.push_back(rlp::encode_bytes(tx.data));
  std::vector<Bytes> entries;
  for (const auto& e : tx.access_list) {
    std::vector<Bytes> keys;
    for (const auto& k : e.storage_keys) keys.push_back(rlp::encode_bytes(k));
    std::vector<Bytes> pair{rlp::encode_bytes(e.address.bytes), rlp::encode_list(keys)};
    entries.push_back(rlp::encode_list(pair));
  }
  f.push_back(rlp::encode_list(entries));
  return f;
}

Bytes typed(const Bytes& payload) {
  Bytes out{0x02};
  append(out, payload);
  return out;
}

U256 as_uint(const rlp::Item& it, const char* field) {
  if (it.is_list()) throw std::invalid_argument(std::string("tx field ") + field + " is a list");
  const Bytes& b = it.bytes();
  if (b.size() > 32)
    throw std::invalid_argument(std::string("tx field ") + field + " exceeds 32 bytes");
  if (!b.empty() && b[0] == 0)
    throw std::invalid_argument(std::string("tx field ") + field + " has a leading zero");
  return U256::from_be_bytes(b);
}

// chainId, nonce and gasLimit are 64-bit here (EIP-2681 bounds the nonce so; a gas limit or a
// chain id past 2^64 is on no chain).
std::uint64_t as_u64(const rlp::Item& it, const char* field) {
  const U256 v = as_uint(it, field);
  if (v.bit_length() > 64)
    throw std::invalid_argument(std::string("tx field ") + field + " exceeds 64 bits");
  return v.to_u64();
}

}  // namespace

Hash32 Eip1559Transaction::signing_hash() const {
  return keccak256(typed(rlp::encode_list(unsigned_fields(*this))));
}

SignedTransaction sign_transaction(const Eip1559Transaction& tx, const PrivateKey& key) {
  if (tx.max_priority_fee_per_gas > tx.max_fee_per_gas)
    throw std::invalid_argument("maxPriorityFeePerGas " + tx.max_priority_fee_per_gas.to_dec() +
                                " exceeds maxFeePerGas " + tx.max_fee_per_gas.to_dec() +
                                ": no node accepts such a transaction");
  SignedTransaction st;
  st.tx = tx;
  st.signature = key.sign(tx.signing_hash());
  std::vector<Bytes> f = unsigned_fields(tx);
  f.push_back(rlp::encode_uint(st.signature.recovery_id));
  f.push_back(rlp::encode_uint(U256::from_be_bytes(st.signature.r)));
  f.push_back(rlp::encode_uint(U256::from_be_bytes(st.signature.s)));
  st.raw = typed(rlp::encode_list(f));
  st.hash = keccak256(st.raw);
  st.from = key.address();
  return st;
}

SignedTransaction decode_transaction(std::span<const std::uint8_t> raw) {
  if (raw.empty() || raw[0] != 0x02)
    throw std::invalid_argument("not an EIP-1559 (type 2) transaction: first byte must be 0x02");
  rlp::Item top = rlp::decode(raw.subspan(1));
  if (!top.is_list() || top.list().size() != 12)
    throw std::invalid_argument("a type-2 transaction is an RLP list of 12 fields");
  const auto& f = top.list();
  SignedTransaction st;
  Eip1559Transaction& tx = st.tx;
  tx.chain_id = as_u64(f[0], "chainId");
  tx.nonce = as_u64(f[1], "nonce");
  tx.max_priority_fee_per_gas = as_uint(f[2], "maxPriorityFeePerGas");
  tx.max_fee_per_gas = as_uint(f[3], "maxFeePerGas");
  tx.gas_limit = as_u64(f[4], "gasLimit");
  if (f[5].is_list()) throw std::invalid_argument("tx field to is a list");
  if (f[5].bytes().size() == 20) {
    Address a;
    std::copy(f[5].bytes().begin(), f[5].bytes().end(), a.bytes.begin());
    tx.to = a;
  } else if (!f[5].bytes().empty()) {
    throw std::invalid_argument("tx field to must be 20 bytes or empty");
  }
  tx.value = as_uint(f[6], "value");
  if (f[7].is_list()) throw std::invalid_argument("tx field data is a list");
  tx.data = f[7].bytes();
  if (!f[8].is_list()) throw std::invalid_argument("tx field accessList is not a list");
  for (const auto& e : f[8].list()) {
    if (!e.is_list() || e.list().size() != 2 || e.list()[0].is_list() ||
        e.list()[0].bytes().size() != 20 || !e.list()[1].is_list())
      throw std::invalid_argument("malformed access-list entry");
    AccessListEntry entry;
    std::copy(e.list()[0].bytes().begin(), e.list()[0].bytes().end(), entry.address.bytes.begin());
    for (const auto& k : e.list()[1].list()) {
      if (k.is_list() || k.bytes().size() != 32)
        throw std::invalid_argument("malformed storage key");
      Hash32 h;
      std::copy(k.bytes().begin(), k.bytes().end(), h.begin());
      entry.storage_keys.push_back(h);
    }
    tx.access_list.push_back(std::move(entry));
  }
  U256 y = as_uint(f[9], "yParity");
  if (y > U256(1)) throw std::invalid_argument("yParity must be 0 or 1");
  st.signature.recovery_id = static_cast<std::uint8_t>(y.to_u64());
  st.signature.r = as_uint(f[10], "r").to_be_bytes();
  st.signature.s = as_uint(f[11], "s").to_be_bytes();
  st.raw.assign(raw.begin(), raw.end());
  st.hash = keccak256(raw);
  st.from = recover_address(tx.signing_hash(), st.signature);
  return st;
}

}  // namespace murmur::chain

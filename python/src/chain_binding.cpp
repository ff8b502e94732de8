// murmur._murmur's chain half: secp256k1 keys, the EIP-712 domain, and the Update / Vote
// digests and signatures, all by chain/'s own signer (the bytes murmurd and AllianceTask check).
#include <pybind11/stl.h>

#include <string>

#include "bindings.hpp"
#include "murmur/chain/eip712.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/chain/secp256k1.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/protocol/blake3.hpp"

namespace murmur::python {

namespace c = chain;

chain::Hash32 hash32(py::handle value, const char* what) {
  if (py::isinstance<py::str>(value)) return c::hash_from_hex(value.cast<std::string>());
  if (!py::isinstance<py::bytes>(value) && !py::isinstance<py::bytearray>(value))
    throw py::type_error(std::string(what) + " must be 32 bytes or 0x-prefixed hex text");
  const std::string raw = value.cast<std::string>();
  if (raw.size() != 32)
    throw py::value_error(std::string(what) + " must be 32 bytes, got " +
                          std::to_string(raw.size()));
  c::Hash32 h{};
  std::copy(raw.begin(), raw.end(), h.begin());
  return h;
}

chain::U256 u256(py::handle value, const char* what) {
  if (!py::isinstance<py::int_>(value)) throw py::type_error(std::string(what) + " must be an int");
  if (value.cast<py::int_>() < py::int_(0))
    throw py::value_error(std::string(what) + " must not be negative");
  return c::U256::from_string(py::str(value).cast<std::string>());  // overflow_error past 2^256
}

chain::Address address(const std::string& text) {
  return c::Address::from_hex(text);
}

py::bytes to_bytes(std::span<const std::uint8_t> data) {
  return py::bytes(reinterpret_cast<const char*>(data.data()), data.size());
}

namespace {

std::span<const std::uint8_t> byte_view(const py::bytes& b) {
  const std::string_view v = b;
  return {reinterpret_cast<const std::uint8_t*>(v.data()), v.size()};
}

c::UpdateMessage update_message(py::handle task_id, py::handle round, py::handle update_hash,
                                py::handle num_samples) {
  return {u256(task_id, "task_id"), u256(round, "round"), hash32(update_hash, "update_hash"),
          u256(num_samples, "num_samples")};
}

c::VoteMessage vote_message(py::handle task_id, py::handle round, py::handle model_hash,
                            int score) {
  if (score != 1 && score != -1)
    throw py::value_error("score must be +1 (accept) or -1 (reject), got " + std::to_string(score));
  return {u256(task_id, "task_id"), u256(round, "round"), hash32(model_hash, "model_hash"),
          static_cast<std::int8_t>(score)};
}

}  // namespace

void bind_chain(py::module_& m) {
  py::class_<c::PrivateKey>(m, "PrivateKey",
                            "A secp256k1 chain key (never printed). sign() is RFC 6979, low-s.")
      .def_static("from_hex", &c::PrivateKey::from_hex, py::arg("hex"),
                  "64 hex digits, optional 0x (the text is never echoed in errors).")
      .def_static("derive", &client::derive_node_key, py::arg("seed"), py::arg("index"),
                  "The deterministic test key of node `index` under `seed` (client/node_keys.hpp);"
                  " never stake real value on it.")
      .def_property_readonly("address",
                             [](const c::PrivateKey& k) { return k.address().to_checksum(); })
      .def(
          "sign",
          [](const c::PrivateKey& k, py::handle digest) {
            return to_bytes(k.sign(hash32(digest, "digest")).to_rsv());
          },
          py::arg("digest"), "65 bytes r || s || v (v = 27/28) over a 32-byte digest.")
      .def("__repr__", [](const c::PrivateKey& k) {
        return "<murmur.PrivateKey of " + k.address().to_checksum() + ">";
      });

  py::class_<c::Eip712Domain>(m, "Eip712Domain",
                              "EIP712Domain(name, version, chainId, verifyingContract)")
      .def(py::init([](std::string name, std::string version, std::uint64_t chain_id,
                       const std::string& contract) {
             return c::Eip712Domain{std::move(name), std::move(version), chain_id,
                                    address(contract)};
           }),
           py::arg("name") = "Murmuration", py::arg("version") = "1", py::arg("chain_id"),
           py::arg("verifying_contract"))
      .def_readonly("name", &c::Eip712Domain::name)
      .def_readonly("version", &c::Eip712Domain::version)
      .def_readonly("chain_id", &c::Eip712Domain::chain_id)
      .def_property_readonly(
          "verifying_contract",
          [](const c::Eip712Domain& d) { return d.verifying_contract.to_checksum(); })
      .def("separator", [](const c::Eip712Domain& d) { return to_bytes(d.separator()); })
      .def("__repr__", [](const c::Eip712Domain& d) {
        return "<murmur.Eip712Domain " + d.name + " v" + d.version + " chain " +
               std::to_string(d.chain_id) + " " + d.verifying_contract.to_checksum() + ">";
      });

  m.def(
      "update_digest",
      [](const c::Eip712Domain& d, py::handle task, py::handle round, py::handle hash,
         py::handle samples) {
        return to_bytes(c::update_digest(d, update_message(task, round, hash, samples)));
      },
      py::arg("domain"), py::arg("task_id"), py::arg("round"), py::arg("update_hash"),
      py::arg("num_samples"));
  m.def(
      "sign_update",
      [](const c::PrivateKey& key, const c::Eip712Domain& d, py::handle task, py::handle round,
         py::handle hash, py::handle samples) {
        return to_bytes(c::sign_update(key, d, update_message(task, round, hash, samples)));
      },
      py::arg("key"), py::arg("domain"), py::arg("task_id"), py::arg("round"),
      py::arg("update_hash"), py::arg("num_samples"));
  m.def(
      "vote_digest",
      [](const c::Eip712Domain& d, py::handle task, py::handle round, py::handle model, int score) {
        return to_bytes(c::vote_digest(d, vote_message(task, round, model, score)));
      },
      py::arg("domain"), py::arg("task_id"), py::arg("round"), py::arg("model_hash"),
      py::arg("score"));
  m.def(
      "sign_vote",
      [](const c::PrivateKey& key, const c::Eip712Domain& d, py::handle task, py::handle round,
         py::handle model, int score) {
        return to_bytes(c::sign_vote(key, d, vote_message(task, round, model, score)));
      },
      py::arg("key"), py::arg("domain"), py::arg("task_id"), py::arg("round"),
      py::arg("model_hash"), py::arg("score"));
  m.def(
      "recover_typed_signer",
      [](py::handle digest, const py::bytes& signature) {
        return c::recover_typed_signer(hash32(digest, "digest"), byte_view(signature))
            .to_checksum();
      },
      py::arg("digest"), py::arg("signature"),
      "The address behind a 65-byte signature, by OpenZeppelin ECDSA's rules.");
  m.def(
      "keccak256", [](const py::bytes& data) { return to_bytes(c::keccak256(byte_view(data))); },
      py::arg("data"));
  m.def(
      "blake3",
      [](py::handle data) {
        Py_buffer view;  // C-contiguous bytes, or BufferError
        if (PyObject_GetBuffer(data.ptr(), &view, PyBUF_C_CONTIGUOUS) != 0)
          throw py::error_already_set();
        c::Hash32 h;
        {
          py::gil_scoped_release release;
          h = protocol::blake3(std::span<const std::uint8_t>(
              static_cast<const std::uint8_t*>(view.buf), static_cast<std::size_t>(view.len)));
        }
        PyBuffer_Release(&view);
        return to_bytes(h);
      },
      py::arg("data"), "BLAKE3 of a buffer's bytes: the update hash of an upload's bytes.");
}

}  // namespace murmur::python

// Typed errors of the chain layer. Every message says what failed and what to do about it.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "murmur/chain/bytes.hpp"

namespace murmur::chain {

/// Base of every error raised by murmur::chain.
class ChainError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The JSON-RPC endpoint could not be reached or answered garbage, after the retries.
class TransportError : public ChainError {
 public:
  using ChainError::ChainError;
};

/// The endpoint answered a JSON-RPC error object (not a revert).
class RpcError : public ChainError {
 public:
  RpcError(const std::string& method, long code, const std::string& message, nlohmann::json data);
  long code() const { return code_; }
  const std::string& rpc_message() const { return rpc_message_; }
  const nlohmann::json& data() const { return data_; }

 private:
  long code_;
  std::string rpc_message_;
  nlohmann::json data_;
};

/// A call or transaction reverted. `error_name()` is "Error" for require messages, "Panic" for
/// Solidity panics, the custom error's name (e.g. "WrongRound") when the selector is known, and
/// empty when it is not; `reason()` is readable ("WrongRound(expected=2, given=3)").
class RevertError : public ChainError {
 public:
  RevertError(const std::string& context, std::string error_name, std::string reason, Bytes data);
  const std::string& error_name() const { return error_name_; }
  const std::string& reason() const { return reason_; }
  const Bytes& revert_data() const { return data_; }

 private:
  std::string error_name_;
  std::string reason_;
  Bytes data_;
};

/// A transaction was sent but no receipt arrived before the deadline. It may still be mined:
/// retry the same operation (the outbox rebroadcasts the same signed transaction).
class ReceiptTimeout : public ChainError {
 public:
  using ChainError::ChainError;
};

}  // namespace murmur::chain

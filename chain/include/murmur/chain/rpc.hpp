// JSON-RPC 2.0 over HTTP(S) with libcurl: timeouts, bounded retries of transport failures.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace murmur::chain {

/// Timeouts and retry policy of an RpcClient.
struct RpcOptions {
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds request_timeout{15000};  ///< whole request, connect included
  int max_attempts = 4;                              ///< ≥ 1; transport failures only
  std::chrono::milliseconds first_backoff{200};      ///< doubled after each failed attempt
};

/// What one HTTP answer (status, body) to a JSON-RPC request says: its "result"; RpcError,
/// thrown, for a JSON-RPC error object; nothing, with `problem` saying why, for an answer to
/// retry (HTTP 429 or 5xx, a body that is not a JSON-RPC reply object).
std::optional<nlohmann::json> read_reply(const std::string& method, long status,
                                         const std::string& body, std::string& problem);

/// A JSON-RPC client bound to one endpoint. Not thread-safe: one per thread.
class RpcClient {
 public:
  /// `url` such as "http://127.0.0.1:8545". Throws std::invalid_argument for an empty URL.
  explicit RpcClient(std::string url, RpcOptions options = {});
  ~RpcClient();
  RpcClient(const RpcClient&) = delete;
  RpcClient& operator=(const RpcClient&) = delete;

  /// Sends {"method", "params"} and returns "result". Transport failures (connection refused,
  /// timeouts, HTTP 429/5xx, a body that is not JSON-RPC) are retried up to max_attempts with
  /// exponential backoff, then thrown as TransportError; a JSON-RPC error object is thrown at
  /// once as RpcError. Every request is idempotent at the node (eth_sendRawTransaction of the
  /// same bytes included), so a retry after a lost answer is safe. `params` must be a JSON
  /// array (std::invalid_argument otherwise): build it with nlohmann::json::array({...}), since a
  /// braced single element `{x}` binds to `const json&` as x itself, not as [x].
  nlohmann::json call(const std::string& method, const nlohmann::json& params);

  const std::string& url() const { return url_; }

 private:
  struct Curl;
  std::string url_;
  RpcOptions options_;
  std::unique_ptr<Curl> curl_;
  std::uint64_t next_id_ = 1;
};

}  // namespace murmur::chain

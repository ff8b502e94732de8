#include "murmur/chain/rpc.hpp"

#include <curl/curl.h>

#include <mutex>
#include <stdexcept>
#include <thread>

#include "murmur/chain/errors.hpp"

namespace murmur::chain {

struct RpcClient::Curl {
  CURL* handle = nullptr;
  curl_slist* headers = nullptr;
  ~Curl() {
    if (headers) curl_slist_free_all(headers);
    if (handle) curl_easy_cleanup(handle);
  }
};

namespace {

std::size_t write_body(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

std::string shorten(const std::string& s) {
  return s.size() > 300 ? s.substr(0, 300) + "..." : s;
}

}  // namespace

RpcClient::RpcClient(std::string url, RpcOptions options)
    : url_(std::move(url)), options_(options), curl_(std::make_unique<Curl>()) {
  if (url_.empty())
    throw std::invalid_argument("JSON-RPC URL is empty: pass --rpc http://HOST:PORT");
  if (options_.max_attempts < 1) options_.max_attempts = 1;
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_->handle = curl_easy_init();
  if (!curl_->handle) throw std::runtime_error("curl_easy_init failed");
  curl_->headers = curl_slist_append(nullptr, "Content-Type: application/json");
  // No "Expect: 100-continue" for large bodies (deployments): some nodes answer it wrongly.
  curl_->headers = curl_slist_append(curl_->headers, "Expect:");
  CURL* h = curl_->handle;
  curl_easy_setopt(h, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, curl_->headers);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
}

RpcClient::~RpcClient() = default;

std::optional<nlohmann::json> read_reply(const std::string& method, long status,
                                         const std::string& body, std::string& problem) {
  if (status == 429 || status >= 500) {
    problem = "HTTP " + std::to_string(status) + ": " + shorten(body);
    return std::nullopt;
  }
  // Nesting is bounded as the body is read: a reply nested deeper than any JSON-RPC result
  // would overflow the stack when copied or dumped, so it is garbage to retry.
  constexpr int kMaxDepth = 128;
  bool too_deep = false;
  nlohmann::json reply = nlohmann::json::parse(
      body,
      [&too_deep](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        too_deep = too_deep || depth > kMaxDepth;
        return !too_deep;
      },
      /*allow_exceptions=*/false);
  if (too_deep) {
    problem = "HTTP " + std::to_string(status) + " with JSON nested deeper than " +
              std::to_string(kMaxDepth) + " levels: " + shorten(body);
    return std::nullopt;
  }
  if (reply.is_discarded() || !reply.is_object()) {
    problem =
        "HTTP " + std::to_string(status) + " with a body that is not JSON-RPC: " + shorten(body);
    return std::nullopt;
  }
  if (reply.contains("error") && !reply["error"].is_null()) {
    // Read field by field: a node may answer an error that is not an object, or a code or
    // message of another JSON type; it is still this call's error.
    const auto& e = reply["error"];
    const bool object = e.is_object();
    const long code =
        object && e.contains("code") && e["code"].is_number_integer() ? e["code"].get<long>() : 0;
    const std::string message = object && e.contains("message") && e["message"].is_string()
                                    ? e["message"].get<std::string>()
                                : object ? std::string("(no message)")
                                         : shorten(e.dump());
    throw RpcError(method, code, message,
                   object && e.contains("data") ? e["data"] : nlohmann::json());
  }
  if (!reply.contains("result")) {
    problem = "reply has neither result nor error: " + shorten(body);
    return std::nullopt;
  }
  return reply["result"];
}

nlohmann::json RpcClient::call(const std::string& method, const nlohmann::json& params) {
  if (!params.is_array())
    throw std::invalid_argument(method + ": JSON-RPC params must be an array, got " +
                                params.dump().substr(0, 100));
  nlohmann::json request = {
      {"jsonrpc", "2.0"}, {"id", next_id_++}, {"method", method}, {"params", params}};
  const std::string body = request.dump();
  CURL* h = curl_->handle;
  std::string last_problem;
  auto backoff = options_.first_backoff;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (attempt > 1) {
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
    }
    std::string response;
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
      last_problem = curl_easy_strerror(rc);
      continue;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (auto result = read_reply(method, status, response, last_problem)) return *result;
  }
  throw TransportError(method + " to " + url_ + " failed after " +
                       std::to_string(options_.max_attempts) + " attempts: " + last_problem +
                       " (is the node running and the --rpc URL right?)");
}

}  // namespace murmur::chain

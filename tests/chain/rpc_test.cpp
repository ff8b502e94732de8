// The JSON-RPC client against a scripted HTTP server on 127.0.0.1: retries of transport failures
// (bounded), no retry of JSON-RPC errors, and revert data decoded from both geth's and Hardhat's
// error shapes.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>

#include "murmur/chain/abi.hpp"
#include "murmur/chain/alliance.hpp"
#include "murmur/chain/errors.hpp"
#include "murmur/chain/eth.hpp"

namespace murmur::chain {
namespace {

/// Answers each HTTP request with the next scripted (status, body); counts requests.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::deque<std::pair<int, std::string>> script)
      : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("cannot listen on 127.0.0.1");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      // Read headers and the body announced by Content-Length (bounded by the client's size).
      while (true) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
        auto end = req.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        auto cl = req.find("Content-Length: ");
        std::size_t len = cl == std::string::npos ? 0 : std::stoul(req.substr(cl + 16));
        if (req.size() >= end + 4 + len) break;
      }
      ++requests_;
      std::pair<int, std::string> reply{500, "script exhausted"};
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!script_.empty()) {
          reply = script_.front();
          script_.pop_front();
        }
      }
      std::string resp = "HTTP/1.1 " + std::to_string(reply.first) +
                         " X\r\nContent-Type: application/json\r\n" +
                         "Content-Length: " + std::to_string(reply.second.size()) +
                         "\r\nConnection: close\r\n\r\n" + reply.second;
      (void)!::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::deque<std::pair<int, std::string>> script_;
  std::thread thread_;
};

RpcOptions fast() {
  return RpcOptions{std::chrono::milliseconds(500), std::chrono::milliseconds(2000), 3,
                    std::chrono::milliseconds(10)};
}

std::string wrong_round_hex() {
  return to_hex(abi::encode_call(abi::Signature::parse("WrongRound(uint256,uint256)"),
                                 std::vector<abi::Value>{U256(2), U256(3)}));
}

}  // namespace

TEST(Rpc, RetriesTransportFailuresThenSucceeds) {
  ScriptedServer s(
      {{503, "busy"}, {200, "not json"}, {200, R"({"jsonrpc":"2.0","id":1,"result":"0x7a69"})"}});
  RpcClient rpc(s.url(), fast());
  EthClient eth(rpc);
  EXPECT_EQ(eth.chain_id(), 31337u);
  EXPECT_EQ(s.requests(), 3);
}

TEST(Rpc, GivesUpAfterMaxAttemptsWithATransportError) {
  ScriptedServer s({{503, "busy"},
                    {503, "busy"},
                    {503, "busy"},
                    {200, R"({"jsonrpc":"2.0","id":1,"result":"0x1"})"}});
  RpcClient rpc(s.url(), fast());
  try {
    rpc.call("eth_chainId", nlohmann::json::array());
    ADD_FAILURE() << "expected a TransportError";
  } catch (const TransportError& e) {
    EXPECT_NE(std::string(e.what()).find("after 3 attempts"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.requests(), 3);
  RpcClient closed("http://127.0.0.1:1", fast());
  EXPECT_THROW(closed.call("eth_chainId", nlohmann::json::array()), TransportError);
  EXPECT_THROW(closed.call("eth_chainId", nlohmann::json::object()), std::invalid_argument);
}

TEST(Rpc, JsonRpcErrorsAreNotRetriedAndRevertsAreDecoded) {
  // geth: code 3, data = revert bytes; Hardhat: data = {message, data}; a plain error.
  ScriptedServer s(
      {{200,
        R"({"jsonrpc":"2.0","id":1,"error":{"code":3,"message":"execution reverted","data":")" +
            wrong_round_hex() + R"("}})"},
       {200,
        R"({"jsonrpc":"2.0","id":2,"error":{"code":-32603,"message":"Error: VM Exception","data":{"message":"x","data":")" +
            wrong_round_hex() + R"("}}})"},
       {200, R"({"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"method not found"}})"}});
  RpcClient rpc(s.url(), fast());
  EthClient eth(rpc, &alliance::errors());
  for (int i = 0; i < 2; ++i) {
    try {
      eth.call(CallRequest{std::nullopt, Address{}, {}, {}});
      ADD_FAILURE() << "expected a RevertError";
    } catch (const RevertError& e) {
      EXPECT_EQ(e.error_name(), "WrongRound");
      EXPECT_EQ(e.reason(), "WrongRound(expected=2, given=3)");
    }
  }
  try {
    eth.call(CallRequest{std::nullopt, Address{}, {}, {}});
    ADD_FAILURE() << "expected an RpcError";
  } catch (const RevertError&) {
    ADD_FAILURE() << "a plain JSON-RPC error is not a revert";
  } catch (const RpcError& e) {
    EXPECT_EQ(e.code(), -32601);
  }
  EXPECT_EQ(s.requests(), 3) << "JSON-RPC errors must not be retried";
}

// Malformed node answers escaped as nlohmann::json exceptions instead of the chain layer's typed
// errors: a receipt missing "from" (found by rpc_reply_fuzzer, tests/fuzz), and, found reading
// the same code, an error object whose code is a string or that is no object, and eth_call data
// that is not a string.
TEST(Rpc, MalformedRepliesAreTypedErrors) {
  std::string problem;
  EXPECT_THROW(read_reply("eth_call", 200, R"({"error":{"code":"3","message":7}})", problem),
               RpcError);
  try {
    read_reply("eth_call", 200, R"({"error":"execution reverted"})", problem);
    ADD_FAILURE() << "expected an RpcError";
  } catch (const RpcError& e) {
    EXPECT_EQ(e.code(), 0);
    EXPECT_NE(e.rpc_message().find("execution reverted"), std::string::npos);
  }
  EXPECT_FALSE(read_reply("eth_chainId", 200, R"({"id":1})", problem).has_value());
  EXPECT_NE(problem.find("neither result nor error"), std::string::npos) << problem;
  EXPECT_EQ(read_reply("eth_chainId", 200, R"({"result":"0x1"})", problem), "0x1");
  // 200,000 nested brackets overflowed the stack copying the result (found by running
  // rpc_reply_fuzzer on a larger input): nesting is bounded as the body is read.
  const std::string deep(200000, '[');
  EXPECT_FALSE(read_reply("eth_call", 200, R"({"result":)" + deep, problem).has_value());
  EXPECT_NE(problem.find("nested deeper than 128"), std::string::npos) << problem.substr(0, 200);

  nlohmann::json receipt = nlohmann::json::parse(R"({"transactionHash":"0x)" +
                                                 std::string(64, 'a') + R"(","blockNumber":"0x1",
      "status":"0x1","gasUsed":"0x5208","from":"0x)" +
                                                 std::string(40, '2') + R"(","logs":[]})");
  EXPECT_EQ(receipt_from_json(receipt).gas_used, 21000u);
  auto missing = receipt;
  missing.erase("from");
  EXPECT_THROW(receipt_from_json(missing), TransportError);
  auto wrong_type = receipt;
  wrong_type["transactionHash"] = 5;
  EXPECT_THROW(receipt_from_json(wrong_type), TransportError);
  auto too_big = receipt;
  too_big["blockNumber"] = "0x10000000000000000";
  EXPECT_THROW(receipt_from_json(too_big), TransportError);
  EXPECT_THROW(data_from_json(nlohmann::json(42)), TransportError);
  // Found by rpc_reply_fuzzer: a quantity past 2^256 - 1 (or, read as a chain id, block number
  // or nonce, past 64 bits) escaped as std::overflow_error.
  EXPECT_THROW(quantity(nlohmann::json("0x1" + std::string(64, '0'))), TransportError);
  EXPECT_THROW(quantity_u64(nlohmann::json("0x10000000000000000")), TransportError);
  EXPECT_EQ(quantity_u64(nlohmann::json("0x7a69")), 31337u);
  EXPECT_EQ(data_from_json(nlohmann::json("0x0102")), (Bytes{1, 2}));
}

}  // namespace murmur::chain

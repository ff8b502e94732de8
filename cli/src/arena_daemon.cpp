// `murmur arena validate [--daemon]` and `murmur arena serve` (issue 17): the validator farm's
// loop over an ArenaTask, and the HTTP adapter store. arena/README.md, "The validator daemon".
#include "arena_daemon.hpp"

#include <fcntl.h>
#include <unistd.h>

// (CPPHTTPLIB_* come from the murmur_httplib target: cmake/MurmurDependencies.cmake.)
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "murmur/arena/adapter.hpp"
#include "murmur/arena/base_model.hpp"
#include "murmur/arena/evaluate.hpp"
#include "murmur/chain/arena_poster.hpp"
#include "murmur/chain/arena_settlement.hpp"
#include "murmur/chain/arena_store.hpp"
#include "murmur/chain/arena_task.hpp"
#include "murmur/chain/errors.hpp"
#include "murmur/chain/keccak.hpp"

namespace murmur::cli {

using namespace murmur::chain;
using nlohmann::json;
namespace fs = std::filesystem;
namespace ma = murmur::arena;

std::uint64_t arena_score_of_loss(double loss) {
  if (!std::isfinite(loss) || loss < 0)
    throw std::runtime_error("a loss must be finite and >= 0, got " + std::to_string(loss));
  const double s = std::round(loss * static_cast<double>(kArenaScoreScale));
  if (s > static_cast<double>(kArenaMaxScore))
    throw std::runtime_error("loss " + std::to_string(loss) + " is above the contract's maximum");
  return static_cast<std::uint64_t>(s);
}

Hash32 random_salt() {
  std::random_device rd;
  Hash32 salt{};
  for (std::size_t i = 0; i < salt.size(); i += 4) {
    const std::uint32_t r = rd();
    for (std::size_t j = 0; j < 4; ++j) salt[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
  }
  return salt;
}

namespace {

void fsync_path(const fs::path& p, int flags) {
  const int fd = ::open(p.c_str(), flags);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_json_durably(const fs::path& file, const json& j) {
  const fs::path tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << j.dump(1) << "\n";
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  fsync_path(tmp, O_RDONLY);
  fs::rename(tmp, file);
  const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) {
  g_stop = true;
}

/// A relative path inside an adapter directory, as a manifest names it: no "..", not absolute.
bool safe_relative(const std::string& p) {
  if (p.empty() || p.front() == '/' || p.find('\\') != std::string::npos) return false;
  for (const auto& part : fs::path(p))
    if (part == ".." || part == ".") return false;
  return true;
}

/// Regular files of an adapter directory, relative '/'-separated paths in byte order.
std::vector<std::pair<std::string, std::uintmax_t>> manifest_of(const fs::path& dir) {
  std::vector<std::pair<std::string, std::uintmax_t>> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_symlink()) throw std::runtime_error(e.path().string() + " is a symlink");
    if (e.is_directory()) continue;
    if (!e.is_regular_file()) throw std::runtime_error(e.path().string() + " is not a file");
    files.emplace_back(fs::relative(e.path(), dir).generic_string(), e.file_size());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

fs::path fetch_adapter(const std::string& uri, const Hash32& hash, const fs::path& cache) {
  const std::string want = to_hex(hash, false);
  if (uri.rfind("file://", 0) == 0) {
    const fs::path dir = adapter_path_from_uri(uri);
    const Hash32 got = adapter_directory_hash(dir);
    if (got != hash)
      throw std::runtime_error(uri + " hashes to " + to_hex(got) + ", not the submitted " +
                               to_hex(hash));
    return dir;
  }
  if (uri.rfind("http://", 0) != 0)
    throw std::runtime_error("adapter URI " + uri + ": only file:// and http:// are fetched");
  const fs::path done = cache / want;
  if (fs::exists(done)) {
    if (adapter_directory_hash(done) == hash) return done;
    fs::remove_all(done);  // a damaged cache entry: fetch it again
  }
  const std::size_t slash = uri.find('/', 7);
  const std::string origin = slash == std::string::npos ? uri : uri.substr(0, slash);
  std::string path = slash == std::string::npos ? "/" : uri.substr(slash);
  if (path.back() == '/') path.pop_back();
  httplib::Client client(origin);
  client.set_connection_timeout(10, 0);
  client.set_read_timeout(60, 0);
  auto res = client.Get(path.c_str());
  if (!res) throw std::runtime_error("GET " + uri + ": " + httplib::to_string(res.error()));
  if (res->status != 200)
    throw std::runtime_error("GET " + uri + ": HTTP " + std::to_string(res->status));
  const json manifest = json::parse(res->body, nullptr, false);
  if (manifest.is_discarded() || !manifest.contains("files") || !manifest["files"].is_array())
    throw std::runtime_error("GET " + uri + ": not an adapter manifest");
  fs::create_directories(cache);
  const fs::path tmp = cache / (want + ".part");
  fs::remove_all(tmp);
  for (const auto& f : manifest["files"]) {
    const std::string rel = f.value("path", "");
    if (!safe_relative(rel))
      throw std::runtime_error("GET " + uri + ": manifest names an unsafe path '" + rel + "'");
    auto got = client.Get((path + "/" + rel).c_str());
    if (!got || got->status != 200)
      throw std::runtime_error(
          "GET " + uri + "/" + rel + ": " +
          (got ? "HTTP " + std::to_string(got->status) : httplib::to_string(got.error())));
    const fs::path out = tmp / rel;
    fs::create_directories(out.parent_path());
    std::ofstream(out, std::ios::binary) << got->body;
  }
  const Hash32 got = adapter_directory_hash(tmp);
  if (got != hash) {
    fs::remove_all(tmp);
    throw std::runtime_error(uri + " hashes to " + to_hex(got) + ", not the submitted " +
                             to_hex(hash));
  }
  fs::rename(tmp, done);
  return done;
}

void run_arena_serve(const fs::path& store, const std::string& address, int port,
                     double max_seconds) {
  if (!fs::is_directory(store)) throw std::runtime_error("no store directory " + store.string());
  httplib::Server server;
  const fs::path root = fs::absolute(store);
  server.Get(R"(/([0-9a-f]{64}))", [root](const httplib::Request& rq, httplib::Response& res) {
    const fs::path dir = root / rq.matches[1].str();
    if (!fs::is_directory(dir)) {
      res.status = 404;
      return;
    }
    try {
      json files = json::array();
      for (const auto& [p, size] : manifest_of(dir)) files.push_back({{"path", p}, {"size", size}});
      res.set_content(json{{"files", files}}.dump(), "application/json");
    } catch (const std::exception& e) {
      res.status = 500;
      res.set_content(e.what(), "text/plain");
    }
  });
  server.Get(R"(/([0-9a-f]{64})/(.+))", [root](const httplib::Request& rq, httplib::Response& res) {
    const std::string rel = rq.matches[2].str();
    const fs::path file = root / rq.matches[1].str() / rel;
    if (!safe_relative(rel) || fs::is_symlink(file) || !fs::is_regular_file(file)) {
      res.status = 404;
      return;
    }
    std::ifstream in(file, std::ios::binary);
    std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    res.set_content(std::move(body), "application/octet-stream");
  });
  const int bound = port == 0 ? server.bind_to_any_port(address)
                              : (server.bind_to_port(address.c_str(), port) ? port : -1);
  if (bound < 0)
    throw std::runtime_error("cannot listen on " + address + ":" + std::to_string(port));
  std::cout << "serving " << root.string() << " on http://" << address << ":" << bound << "/"
            << std::endl;
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  std::thread t([&] { server.listen_after_bind(); });
  const auto start = std::chrono::steady_clock::now();
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (max_seconds > 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
            max_seconds)
      break;
  }
  server.stop();
  t.join();
}

namespace {

/// Counters on stderr and /metrics (Prometheus text).
struct DaemonMetrics {
  std::mutex m;
  std::uint64_t adapters_scored = 0, tokens_scored = 0, fetch_failures = 0, commits = 0,
                reveals = 0, claims = 0, passes = 0, iterations = 0;
  double score_seconds = 0;
  std::string phase = "none", stage = "starting";
  std::string text() {
    std::lock_guard lk(m);
    std::ostringstream o;
    auto line = [&o](const char* name, const char* help, const char* type, double v) {
      o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n"
        << name << " " << v << "\n";
    };
    line("murmur_arena_adapters_scored_total", "adapters scored", "counter",
         double(adapters_scored));
    line("murmur_arena_tokens_scored_total", "target tokens scored over all adapters", "counter",
         double(tokens_scored));
    line("murmur_arena_score_seconds_total", "seconds spent scoring", "counter", score_seconds);
    line("murmur_arena_adapters_per_second", "adapters scored per second of scoring", "gauge",
         score_seconds > 0 ? double(adapters_scored) / score_seconds : 0);
    line("murmur_arena_tokens_per_second", "target tokens scored per second of scoring", "gauge",
         score_seconds > 0 ? double(tokens_scored) / score_seconds : 0);
    line("murmur_arena_fetch_failures_total", "adapters not fetched or not matching their hash",
         "counter", double(fetch_failures));
    line("murmur_arena_commits_total", "commitScores postings confirmed", "counter",
         double(commits));
    line("murmur_arena_reveals_total", "revealScores postings confirmed", "counter",
         double(reveals));
    line("murmur_arena_claims_total", "claim postings confirmed", "counter", double(claims));
    line("murmur_arena_loop_iterations_total", "looks at the chain", "counter", double(iterations));
    o << "# HELP murmur_arena_stage the daemon's stage\n# TYPE murmur_arena_stage gauge\n"
      << "murmur_arena_stage{phase=\"" << phase << "\",stage=\"" << stage << "\"} 1\n";
    return o.str();
  }
};

struct Entry {
  std::uint64_t submission = 0;
  std::uint64_t score = 0;
  Hash32 salt{};
  Hash32 adapter_hash{};
  std::optional<double> loss;  ///< none: the adapter was rejected (worst score)
  std::string reason;
};

struct CommitState {
  std::vector<Entry> entries;
  std::vector<std::uint64_t> skipped;  ///< assigned but not fetched / not matching
  std::string strategy;
};

json to_json(const CommitState& s, const U256& task, const Address& me, const Address& contract) {
  json e = json::array();
  for (const auto& x : s.entries)
    e.push_back({{"submission", x.submission},
                 {"score", x.score},
                 {"salt", to_hex(x.salt)},
                 {"adapterHash", to_hex(x.adapter_hash)},
                 {"loss", x.loss ? json(*x.loss) : json(nullptr)},
                 {"reason", x.reason}});
  return {{"task", task.to_dec()},
          {"validator", me.to_checksum()},
          {"arenaTask", contract.to_checksum()},
          {"strategy", s.strategy},
          {"entries", e},
          {"skipped", s.skipped}};
}

CommitState from_json(const json& j, const fs::path& file, const U256& task, const Address& me) {
  try {
    if (j.at("task").get<std::string>() != task.to_dec() ||
        Address::from_hex(j.at("validator").get<std::string>()) != me)
      throw std::runtime_error("it belongs to another task or validator");
    CommitState s;
    s.strategy = j.value("strategy", "");
    for (const auto& e : j.at("entries")) {
      Entry x;
      x.submission = e.at("submission").get<std::uint64_t>();
      x.score = e.at("score").get<std::uint64_t>();
      x.salt = hash_from_hex(e.at("salt").get<std::string>());
      x.adapter_hash = hash_from_hex(e.at("adapterHash").get<std::string>());
      if (e.at("loss").is_number()) x.loss = e.at("loss").get<double>();
      x.reason = e.value("reason", "");
      s.entries.push_back(x);
    }
    s.skipped = j.value("skipped", std::vector<std::uint64_t>{});
    return s;
  } catch (const std::exception& e) {
    throw std::runtime_error("commit state " + file.string() + " is unusable: " + e.what() +
                             " (move it away to start the task's scoring over)");
  }
}

std::uint64_t chain_time(EthClient& eth) {
  const json b = eth.raw("eth_getBlockByNumber", json::array({"latest", false}));
  return std::stoull(b.at("timestamp").get<std::string>(), nullptr, 16);
}

class Daemon {
 public:
  Daemon(const ArenaDaemonOptions& o, EthClient& eth, Wallet& wallet, const Address& contract)
      : o_(o),
        eth_(eth),
        wallet_(wallet),
        contract_(contract),
        ct_(eth, contract),
        task_(U256::from_string(o.task)),
        outbox_((fs::create_directories(o.state_dir), o.state_dir / "outbox.db")),
        poster_(wallet, contract, outbox_),
        state_file_(o.state_dir / ("commit-" + contract.to_checksum() + "-" + o.task + ".json")) {}

  int run();

 private:
  void log(const std::string& s) { std::cerr << "murmur arena validate: " << s << std::endl; }
  /// Logs a message once per distinct text (a loop that waits repeats itself otherwise).
  void note(const std::string& s) {
    if (noted_.insert(s).second) log(s);
  }
  void stage(const std::string& phase, const std::string& st) {
    std::lock_guard lk(metrics_.m);
    metrics_.phase = phase;
    metrics_.stage = st;
  }
  PostingKey key(const std::string& what) const {
    return {"arena." + what + "@" + contract_.to_checksum(), task_, U256(0)};
  }
  bool confirmed(const std::string& what) const {
    auto p = outbox_.find(key(what));
    return p && p->state == PostingState::Confirmed;
  }
  bool reverted(const std::string& what) const {
    auto p = outbox_.find(key(what));
    return p && p->state == PostingState::Reverted;
  }
  void load_models();
  CommitState score_assignments();
  /// Posts through the outbox; false (logged) when the call would revert now.
  bool post(const std::string& what, const Bytes& calldata, const std::function<bool()>& landed);
  /// A transaction anyone may send (close, draw, finalize): a revert means someone else did it.
  void drive(const char* what, const Bytes& calldata);

  const ArenaDaemonOptions& o_;
  EthClient& eth_;
  Wallet& wallet_;
  Address contract_;
  ArenaTaskContract ct_;
  U256 task_;
  Outbox outbox_;
  ArenaPoster poster_;
  fs::path state_file_;
  std::optional<ma::BaseModel> base_;
  std::optional<ma::EvalSet> data_;
  std::string strategy_;
  std::set<std::string> noted_;
  DaemonMetrics metrics_;
  json summary_ = json::object();
};

void Daemon::load_models() {
  using Device = ma::Device;
  Device device = Device::kCpu;
  if (o_.device == "cuda" || (o_.device == "auto" && ma::cuda_available())) device = Device::kCuda;
  base_.emplace(ma::BaseModel::load(o_.base, device));
  const auto& c = base_->config();
  data_.emplace(ma::read_eval_jsonl(o_.data, c.vocab, c.max_positions));
  // auto: the faster path on this backend as bench/arena measured it (arena/README.md): merging
  // each adapter on a CPU, one batched SGMV pass on CUDA.
  strategy_ = o_.strategy != "auto" ? o_.strategy : device == Device::kCuda ? "batched" : "merged";
  log("base model " + base_->name() + " on " + (device == Device::kCuda ? "cuda" : "cpu") +
      ", data " + o_.data.string() + ": " + std::to_string(data_->sequences.size()) +
      " sequences, " + std::to_string(data_->target_tokens()) + " target tokens; strategy " +
      strategy_);
}

CommitState Daemon::score_assignments() {
  CommitState st;
  st.strategy = strategy_;
  const auto nodes = ct_.submissions(task_);
  std::vector<std::uint64_t> mine;
  for (std::uint64_t s = 0; s < nodes.size(); ++s) {
    const auto who = ct_.assignees(task_, s);
    if (std::find(who.begin(), who.end(), wallet_.address()) != who.end()) mine.push_back(s);
  }
  log(std::to_string(mine.size()) + " of " + std::to_string(nodes.size()) +
      " submissions assigned to " + wallet_.address().to_checksum());
  std::vector<ma::AdapterLoad> loads;
  std::vector<std::uint64_t> load_sub;
  std::vector<Hash32> load_hash;
  for (std::uint64_t s : mine) {
    const ArenaParticipant p = ct_.participant(task_, nodes[s]);
    try {
      const fs::path dir = fetch_adapter(p.adapter_uri, p.adapter_hash, o_.state_dir / "adapters");
      loads.push_back(ma::load_adapter(dir, base_->config(), base_->name()));
      load_sub.push_back(s);
      load_hash.push_back(p.adapter_hash);
    } catch (const std::exception& e) {
      // Not committed: a validator scores what it could check, never a guess.
      log("submission " + std::to_string(s) + ": " + e.what() + ": skipped");
      st.skipped.push_back(s);
      std::lock_guard lk(metrics_.m);
      ++metrics_.fetch_failures;
    }
  }
  std::vector<const ma::LoraAdapter*> valid;
  std::vector<std::size_t> valid_at;
  for (std::size_t i = 0; i < loads.size(); ++i)
    if (loads[i].adapter) {
      valid.push_back(&*loads[i].adapter);
      valid_at.push_back(i);
    }
  const auto start = std::chrono::steady_clock::now();
  std::vector<ma::AdapterScore> scores;
  if (strategy_ == "batched") {
    const auto budget = static_cast<std::size_t>(o_.pass_gib * double(std::size_t{1} << 30));
    scores = ma::evaluate_batched(*base_, valid, *data_, {o_.batch, o_.per_pass, budget});
  } else {
    for (const auto* a : valid) scores.push_back(ma::evaluate_merged(*base_, *a, *data_, o_.batch));
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::size_t tokens = valid.size() * data_->target_tokens();
  {
    std::lock_guard lk(metrics_.m);
    metrics_.adapters_scored += valid.size();
    metrics_.tokens_scored += tokens;
    metrics_.score_seconds += secs;
  }
  if (!valid.empty()) {
    std::ostringstream m;
    m << "scored " << valid.size() << " adapters (" << tokens << " target tokens) in " << secs
      << " s (" << strategy_ << "): " << (secs > 0 ? double(valid.size()) / secs : 0)
      << " adapters/s, " << (secs > 0 ? double(tokens) / secs : 0) << " tokens/s";
    log(m.str());
  }
  std::vector<std::optional<ma::AdapterScore>> by_load(loads.size());
  for (std::size_t i = 0; i < valid.size(); ++i) by_load[valid_at[i]] = scores[i];
  for (std::size_t i = 0; i < loads.size(); ++i) {
    Entry e;
    e.submission = load_sub[i];
    e.adapter_hash = load_hash[i];
    e.salt = random_salt();
    if (by_load[i] && by_load[i]->valid) {
      e.loss = by_load[i]->mean_loss;
      e.score = arena_score_of_loss(*e.loss);
    } else {
      // Rejected at load or a non-finite loss: the worst score the contract takes.
      e.score = kArenaMaxScore;
      e.reason = by_load[i] ? by_load[i]->reason : "rejected: " + loads[i].reason;
    }
    st.entries.push_back(e);
  }
  return st;
}

bool Daemon::post(const std::string& what, const Bytes& calldata,
                  const std::function<bool()>& landed) {
  try {
    const PostingResult r = poster_.post(key(what), calldata, landed);
    if (!r.success) {
      note(what + " reverted: " + r.error);
      return false;
    }
    if (!r.already_done) log(what + " confirmed in block " + std::to_string(r.block_number));
    return true;
  } catch (const RevertError& e) {
    note(what + " not sent: " + e.what());
    return false;
  }
}

void Daemon::drive(const char* what, const Bytes& calldata) {
  try {
    const Receipt r = wallet_.transact(contract_, calldata);
    log(std::string(what) + " sent in block " + std::to_string(r.block_number));
  } catch (const RevertError& e) {
    note(std::string(what) + " not needed or not yet: " + e.what());
  }
}

int Daemon::run() {
  const ArenaParticipant me = ct_.participant(task_, wallet_.address());
  if (me.role != ArenaRole::Validator)
    throw std::runtime_error(wallet_.address().to_checksum() + " is " + to_string(me.role) +
                             " in task " + task_.to_dec() +
                             ", not a validator: `murmur arena stake --role validator` first");
  load_models();
  {
    std::ifstream in(o_.data, std::ios::binary);
    Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const Hash32 want = ct_.get_task(task_).eval_set_hash;
    if (want != Hash32{} && keccak256(bytes) != want)
      note("warning: " + o_.data.string() + " is not the task's evaluation set (keccak256 " +
           to_hex(keccak256(bytes)) + ", the task names " + to_hex(want) + ")");
  }
  std::unique_ptr<httplib::Server> http;
  std::thread http_thread;
  if (o_.metrics_port >= 0) {
    http = std::make_unique<httplib::Server>();
    http->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_.text(), "text/plain; version=0.0.4");
    });
    const int port =
        o_.metrics_port == 0
            ? http->bind_to_any_port(o_.metrics_address)
            : (http->bind_to_port(o_.metrics_address.c_str(), o_.metrics_port) ? o_.metrics_port
                                                                               : -1);
    if (port < 0)
      throw std::runtime_error("metrics: cannot listen on " + o_.metrics_address + ":" +
                               std::to_string(o_.metrics_port));
    log("metrics on http://" + o_.metrics_address + ":" + std::to_string(port) + "/metrics");
    http_thread = std::thread([&] { http->listen_after_bind(); });
  }
  struct StopHttp {
    std::unique_ptr<httplib::Server>& s;
    std::thread& t;
    ~StopHttp() {
      if (s) s->stop();
      if (t.joinable()) t.join();
    }
  } stop_http{http, http_thread};

  const auto start = std::chrono::steady_clock::now();
  std::uint64_t iterations = 0;
  int status = 2;
  const bool stop_at_commit = o_.until == "committed", stop_at_reveal = o_.until == "revealed";
  for (;; std::this_thread::sleep_for(std::chrono::milliseconds(o_.poll_ms))) {
    if (g_stop) break;
    if (o_.max_seconds > 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
            o_.max_seconds) {
      log("time limit of " + std::to_string(o_.max_seconds) + " s reached before '" + o_.until +
          "'");
      break;
    }
    if (o_.max_iterations && iterations >= o_.max_iterations) break;
    ++iterations;
    {
      std::lock_guard lk(metrics_.m);
      ++metrics_.iterations;
    }
    try {
      const ArenaTaskInfo ti = ct_.get_task(task_);
      const std::string phase = to_string(ti.phase);
      const std::uint64_t now = chain_time(eth_);
      if (ti.phase == ArenaPhase::Open) {
        stage(phase, "waiting for the submission deadline");
        if (o_.drive && now > ti.submit_deadline)
          drive("closeSubmissions", chain::arena::close_submissions(task_));
        continue;
      }
      if (ti.phase == ArenaPhase::Sealing) {
        stage(phase, "waiting for the assignments");
        if (o_.drive && eth_.block_number() > ti.seed_block)
          drive("drawAssignments", chain::arena::draw_assignments(task_));
        continue;
      }
      if (ti.phase == ArenaPhase::Scoring) {
        std::optional<CommitState> st;
        if (fs::exists(state_file_)) {
          std::ifstream in(state_file_);
          st = from_json(json::parse(in, nullptr, false), state_file_, task_, wallet_.address());
        } else if (now <= ti.commit_deadline) {
          stage(phase, "scoring");
          st = score_assignments();
          // Scores and salts reach the disk before any commitment leaves: a restart reveals them.
          write_json_durably(state_file_, to_json(*st, task_, wallet_.address(), contract_));
          log("commit state in " + state_file_.string());
        } else {
          note("the commit window closed before this validator scored: nothing to reveal");
        }
        // No checked assignment: nothing to commit or reveal, the stages pass at once. No state
        // (the window closed unscored): the stages are never reached.
        const bool none_assigned = st && st->entries.empty();
        const bool nothing = !st || none_assigned;
        if (none_assigned) note("nothing to commit (no checked assignment)");
        if (!nothing && !confirmed("commitScores") && !reverted("commitScores")) {
          if (now <= ti.commit_deadline || outbox_.find(key("commitScores"))) {
            stage(phase, "committing");
            std::vector<std::uint64_t> subs;
            std::vector<Hash32> commitments;
            for (const auto& e : st->entries) {
              subs.push_back(e.submission);
              commitments.push_back(
                  arena_score_commitment(task_, e.submission, wallet_.address(), e.score, e.salt));
            }
            const std::uint64_t first = subs.front();
            if (post("commitScores", chain::arena::commit_scores(task_, subs, commitments), [&] {
                  return ct_.score_of(task_, first, wallet_.address()).commitment != Hash32{};
                })) {
              std::lock_guard lk(metrics_.m);
              ++metrics_.commits;
              summary_["committed"] = subs;
            }
          } else {
            note("the commit window closed before the commitment was sent");
          }
        }
        if (none_assigned || (st && confirmed("commitScores"))) {
          if (stop_at_commit) {
            status = 0;
            break;
          }
        }
        if (!nothing && confirmed("commitScores") && !confirmed("revealScores") &&
            !reverted("revealScores")) {
          if (now > ti.commit_deadline && now <= ti.reveal_deadline) {
            stage(phase, "revealing");
            std::vector<std::uint64_t> subs, scores;
            std::vector<Hash32> salts;
            for (const auto& e : st->entries) {
              subs.push_back(e.submission);
              scores.push_back(e.score);
              salts.push_back(e.salt);
            }
            const std::uint64_t first = subs.front();
            if (post("revealScores", chain::arena::reveal_scores(task_, subs, scores, salts),
                     [&] { return ct_.score_of(task_, first, wallet_.address()).revealed; })) {
              std::lock_guard lk(metrics_.m);
              ++metrics_.reveals;
              summary_["revealed"] = subs;
            }
          } else if (now <= ti.commit_deadline) {
            stage(phase, "committed, waiting for the reveal window");
          } else {
            note("the reveal window closed before the reveal was sent");
          }
        }
        if (stop_at_reveal && (none_assigned || (st && confirmed("revealScores")))) {
          status = 0;
          break;
        }
        if (now > ti.reveal_deadline) {
          stage(phase, "waiting for finalize");
          if (o_.drive) drive("finalize", chain::arena::finalize(task_));
        }
        continue;
      }
      if (ti.phase == ArenaPhase::Finalized) {
        if (o_.until == "finalized") {
          status = 0;
          break;
        }
        if (o_.until == "claimed") {
          stage(phase, "claiming");
          const U256 reward = ct_.reward_of(task_, wallet_.address());
          if (!reward.is_zero() || outbox_.find(key("claim"))) {
            if (post("claim", chain::arena::claim(task_),
                     [&] { return ct_.reward_of(task_, wallet_.address()).is_zero(); })) {
              std::lock_guard lk(metrics_.m);
              ++metrics_.claims;
              summary_["claimed"] = reward.to_dec();
            }
          } else {
            note("nothing to claim");
          }
          status = 0;
          break;
        }
        status = 0;
        break;
      }
      note("task " + task_.to_dec() + " is in phase " + phase);
    } catch (const TransportError& e) {
      note(std::string("the node does not answer (retrying): ") + e.what());
    } catch (const ReceiptTimeout& e) {
      log(std::string("no receipt yet (the posting stays in the outbox): ") + e.what());
    } catch (const ChainError& e) {
      // A node error (RpcError, an unreadable view): the next look tries again.
      note(std::string("chain error (retrying): ") + e.what());
    }
  }
  stage("-", status == 0 ? "done" : "stopped");
  summary_["task"] = task_.to_dec();
  summary_["validator"] = wallet_.address().to_checksum();
  summary_["until"] = o_.until;
  summary_["reached"] = status == 0;
  summary_["stateFile"] = state_file_.string();
  summary_["strategy"] = strategy_;
  {
    std::lock_guard lk(metrics_.m);
    summary_["adaptersScored"] = metrics_.adapters_scored;
    summary_["tokensScored"] = metrics_.tokens_scored;
    summary_["scoreSeconds"] = metrics_.score_seconds;
  }
  if (o_.json_out)
    std::cout << summary_.dump() << std::endl;
  else
    std::cout << (status == 0 ? "reached '" : "stopped before '") << o_.until << "' for task "
              << task_.to_dec() << std::endl;
  return status;
}

}  // namespace

int run_arena_daemon(const ArenaDaemonOptions& o, EthClient& eth, Wallet& wallet,
                     const Address& arena_task) {
  if (o.until != "committed" && o.until != "revealed" && o.until != "finalized" &&
      o.until != "claimed")
    throw std::runtime_error("--until must be committed, revealed, finalized or claimed");
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  Daemon d(o, eth, wallet, arena_task);
  return d.run();
}

}  // namespace murmur::cli

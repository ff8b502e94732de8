// The simulation's setup and its loop over rounds; the stages of a round are in
// simulate_round.cpp.
#include "murmur/sim/simulate.hpp"

#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

#include "murmur/chain/deployment.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/model/evaluator.hpp"
#include "murmur/model/idx.hpp"
#include "murmur/model/mlp_spec.hpp"
#include "simulate_impl.hpp"

namespace murmur::sim {
namespace {

/// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed while looking for a free port");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind a loopback port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace

std::uint64_t mix(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  std::uint64_t x = a;
  for (std::uint64_t v : {b, c}) {
    x += 0x9e3779b97f4a7c15ull + v;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
  }
  return x;
}

std::vector<float> simulation_initial_model(const kernels::MlpShape& shape, std::uint64_t seed) {
  return initial_model(shape, mix(seed, kInit));
}

std::optional<chain::Hash32> hash_of(const std::string& bytes) {
  if (bytes.size() != 32) return std::nullopt;
  chain::Hash32 h{};
  std::copy(bytes.begin(), bytes.end(), h.begin());
  return h;
}

std::string describe_error(const std::exception& e) {
  if (const auto* s = dynamic_cast<const ServerError*>(&e))
    return wire::ErrorCode_Name(s->code()) + ": " + s->what();
  if (dynamic_cast<const TimeoutError*>(&e)) return std::string("timeout: ") + e.what();
  return e.what();
}

void parallel_for(std::size_t count, unsigned workers,
                  const std::function<void(std::size_t)>& work) {
  std::atomic<std::size_t> next{0};
  std::mutex error_mutex;
  std::exception_ptr error;
  auto loop = [&] {
    for (std::size_t i; (i = next++) < count;) {
      try {
        work(i);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < std::min<std::size_t>(workers, count); ++t)
    threads.emplace_back(loop);
  loop();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

SimulationData SimulationData::load(const std::filesystem::path& dir, bool standardize) {
  SimulationData d{model::load_fashion_mnist(model::FashionMnistSplit::kTrain, dir),
                   model::load_fashion_mnist(model::FashionMnistSplit::kTest, dir)};
  if (!standardize) return d;
  double sum = 0, sq = 0;
  for (float v : d.train.features) sum += v, sq += static_cast<double>(v) * v;
  const double n = static_cast<double>(d.train.features.size());
  d.mean = sum / n;
  d.std = std::sqrt(std::max(sq / n - d.mean * d.mean, 1e-12));
  for (auto* set : {&d.train, &d.test})
    for (float& v : set->features) v = static_cast<float>((v - d.mean) / d.std);
  return d;
}

Simulation::Simulation(const SimulationOptions& o, const SimulationData& data, std::ostream* log)
    : o_(o), data_(data), log_(log), shape_(model::parse_mlp_shape(o.shape)) {
  workers_ = o.workers ? o.workers : std::max(1u, std::thread::hardware_concurrency());
}

Simulation::~Simulation() {
  clients_.clear();
  if (server_) server_->stop();
}

void Simulation::say(const std::string& line) {
  if (log_) *log_ << line << std::endl;
}

void Simulation::prepare_data() {
  const auto& train = data_.train;
  if (train.cols() != shape_.inputs() || train.classes > shape_.classes())
    throw std::runtime_error("model " + shape_.describe() + " does not fit the data (" +
                             train.describe() + ")");
  const auto pool =
      sample_rows(train.rows(), o_.train_rows ? o_.train_rows : train.rows(), mix(o_.seed, kPool));
  shares_ = dirichlet_split(train.labels, pool, train.classes, o_.nodes, o_.alpha, o_.holdout,
                            o_.min_node_rows, mix(o_.seed, kSplit));
  for (const auto& s : shares_) {
    holdout_.push_back(subset(train, s.holdout));
    report_.train_rows.push_back(s.train.size());
    report_.holdout_rows.push_back(s.holdout.size());
  }
  if (o_.test_rows && o_.test_rows < data_.test.rows()) {
    test_subset_ =
        subset(data_.test, sample_rows(data_.test.rows(), o_.test_rows, mix(o_.seed, kTestRows)));
    test_ = &test_subset_;
  } else {
    test_ = &data_.test;
  }
  // Byzantine nodes: the first `byzantine` of a seeded permutation, attacks assigned in turn.
  if (o_.byzantine > o_.nodes) throw std::runtime_error("more Byzantine nodes than nodes");
  if (o_.byzantine > 0 && o_.attacks.empty())
    throw std::runtime_error("Byzantine nodes need --attack");
  std::vector<std::size_t> perm(o_.nodes);
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(mix(o_.seed, kByzantine));
  std::shuffle(perm.begin(), perm.end(), rng);
  node_attack_.assign(o_.nodes, Attack::kNone);
  for (std::size_t k = 0; k < o_.byzantine; ++k) {
    node_attack_[perm[k]] = o_.attacks[k % o_.attacks.size()];
    report_.byzantine.push_back(perm[k]);
  }
  std::sort(report_.byzantine.begin(), report_.byzantine.end());
  report_.node_attack = node_attack_;
  for (std::size_t i = 0; i < o_.nodes; ++i) {
    keys_.push_back(derive_node_key(o_.seed, i));
    addresses_.push_back(keys_.back().address());
    index_of_[addresses_.back()] = i;
    report_.addresses.push_back(addresses_.back().to_checksum());
  }
}

void Simulation::start_server() {
  const ServerTarget& t = o_.server;
  if (o_.chain) {
    const auto dep = chain::load_deployment(o_.chain->deployment);
    domain_.chain_id = dep.chain_id;
    domain_.verifying_contract = dep.alliance_task;
    if (v2_) domain_.verifying_contract = v2_->contract();
    task_id_ = o_.chain->task_id.to_u64();
  } else {
    domain_.chain_id = t.chain_id;
    domain_.verifying_contract = t.contract;
  }
  if (!t.in_process()) {
    endpoint_ = t.endpoint;
    register_endpoint_ = t.register_endpoint;
    server_key_ = t.server_public_key;
    records_dir_ = t.data_dir;
    return;
  }
  if (o_.work_dir.empty()) throw std::runtime_error("an in-process murmurd needs a work directory");
  const auto dir = o_.work_dir / "server";
  if (std::filesystem::exists(dir))
    throw std::runtime_error(dir.string() +
                             " exists (a previous run?): remove it or pick another work directory");
  std::filesystem::create_directories(dir);

  server::Config cfg;
  cfg.endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
  cfg.register_endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
  cfg.data_dir = dir;
  cfg.curve = true;
  cfg.curve_secret_key = server::curve_keypair().second;
  cfg.backend = t.backend;
  cfg.task_id = task_id_;
  cfg.chain_id = domain_.chain_id;
  cfg.contract = domain_.verifying_contract;
  cfg.parameters = shape_.parameters();
  cfg.rounds = o_.rounds;
  cfg.proposer_bps = t.proposer_bps;
  cfg.initial_model = o_.work_dir / "initial.f32";
  {
    const auto init = simulation_initial_model(shape_, o_.seed);
    std::ofstream out(cfg.initial_model, std::ios::binary);
    out.write(reinterpret_cast<const char*>(init.data()),
              static_cast<std::streamsize>(init.size() * 4));
    if (!out) throw std::runtime_error("cannot write " + cfg.initial_model.string());
  }
  if (v2_) {  // murmurd on AllianceTaskV2: the participants and their stakes come from the chain
    server::ChainConfig chain;
    chain.rpc_url = o_.chain->rpc;
    chain.key_file = o_.chain->aggregator_key_file;
    if (chain.key_file.empty())
      throw std::runtime_error(
          "an in-process murmurd on AllianceTaskV2 needs the aggregator's key file");
    cfg.chain = chain;
  } else {
    for (const auto& a : addresses_) cfg.participants.push_back({a, o_.stake});
  }
  double upload = t.upload_seconds;
  if (upload <= 0) {
    // Calibration: one node's local training, scaled to a round's proposers on the workers,
    // with a wide margin (a late honest update would be refused and the run not reproducible).
    const auto t0 = Clock::now();
    const std::size_t probe = std::min<std::size_t>(shares_[0].train.size(), 2000);
    train_local(shape_, initial_model(shape_, 1), data_.train,
                std::span(shares_[0].train).first(probe), o_.training, 1);
    const double per_row = since(t0) / static_cast<double>(probe);
    const double rows = static_cast<double>(o_.train_rows ? o_.train_rows : data_.train.rows()) *
                        static_cast<double>(t.proposer_bps) / 10000.0;
    upload = 10.0 + 4.0 * per_row * rows / workers_;
  }
  report_.upload_window_seconds = upload;
  cfg.upload_window = std::chrono::milliseconds(static_cast<long>(upload * 1000));
  cfg.vote_window = std::chrono::milliseconds(static_cast<long>(t.vote_seconds * 1000));
  cfg.quorum = 1;
  cfg.vote_quorum = t.proposer_bps >= 10000 ? 0 : 1;
  cfg.aggregation = kernels::make_aggregation(t.aggregation());
  report_.rule = kernels::describe(cfg.aggregation);
  if (!t.server_logs) spdlog::set_level(spdlog::level::warn);
  server_ = std::make_unique<server::Server>(cfg);
  server_->start();
  endpoint_ = cfg.endpoint;
  register_endpoint_ = cfg.register_endpoint;
  server_key_ = server_->curve_public_key();
  records_dir_ = dir;
}

void Simulation::connect_nodes() {
  context_ = std::make_shared<zmq::context_t>(1);
  for (std::size_t i = 0; i < o_.nodes; ++i) {
    ClientOptions co;
    co.endpoint = endpoint_;
    co.register_endpoint = register_endpoint_;
    co.server_public_key = server_key_;
    co.curve = CurveKeyPair::generate();
    co.timeout = std::chrono::seconds(20);
    co.context = context_;
    clients_.push_back(std::make_unique<NodeClient>(std::move(co)));
    clients_.back()->register_node(keys_[i], domain_.chain_id);
  }
}

wire::RoundInfo Simulation::wait_for(const std::function<bool(const wire::RoundInfo&)>& done,
                                     const std::string& what) {
  const auto give_up = Clock::now() + o_.stage_timeout;
  for (;;) {
    tick_v2();  // v2: voters reveal while the round waits for them
    wire::RoundInfo info = clients_[0]->round_info();
    if (done(info)) return info;
    if (Clock::now() > give_up)
      throw std::runtime_error("waited " + std::to_string(o_.stage_timeout.count()) + " s for " +
                               what + "; the server is in round " + std::to_string(info.round()) +
                               ", " + wire::Stage_Name(info.stage()));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::pair<double, double> Simulation::score_on_test(const chain::Hash32& hash) {
  if (auto it = scored_.find(hash); it != scored_.end()) return it->second;
  const std::vector<float> model = clients_[0]->fetch_model(hash);
  model::BatchedMlpEvaluator evaluator(*backend_, shape_, *test_, 1);
  const auto s = evaluator.evaluate(model).at(0);
  const std::pair<double, double> r{s.valid() ? s.accuracy : 0.0,
                                    s.valid() ? s.mean_loss : std::nan("")};
  return scored_[hash] = r;
}

SimulationReport Simulation::run() {
  const auto t0 = Clock::now();
  use_single_threaded_torch();
  backend_ = kernels::make_cpu_backend();
  report_.shape = shape_.describe();
  report_.nodes = o_.nodes;
  report_.parameters = shape_.parameters();
  report_.alpha = o_.alpha;
  report_.seed = o_.seed;
  for (Attack a : o_.attacks) {
    if (!report_.attacks.empty()) report_.attacks += ',';
    report_.attacks += attack_name(a);
  }
  if (report_.attacks.empty()) report_.attacks = "none";
  prepare_data();
  const bool v2 = o_.chain && o_.chain->contract == TaskContract::kV2;
  if (o_.chain && !v2 && !o_.server.in_process() && o_.server.data_dir.empty())
    throw std::runtime_error(
        "posting rounds on chain needs the votes murmurd recorded: pass its data_dir");
  if (o_.chain) report_.contract = task_contract_name(o_.chain->contract);
  if (v2) start_v2();  // before murmurd: it mines the blocks murmurd's first round waits for
  start_server();
  if (o_.chain && !v2) chain_ = std::make_unique<ChainRounds>(*o_.chain, addresses_);
  connect_nodes();
  if (!records_dir_.empty()) records_ = std::make_unique<server::StateView>(records_dir_);

  auto info = wait_for(
      [](const wire::RoundInfo& i) {
        return i.stage() == wire::STAGE_UPLOADING || i.stage() == wire::STAGE_CLOSED;
      },
      "the first round to open");
  if (info.stage() == wire::STAGE_CLOSED) throw std::runtime_error("the server's task is closed");
  if (info.parameters() != shape_.parameters())
    throw std::runtime_error("the server's model has " + std::to_string(info.parameters()) +
                             " parameters, " + shape_.describe() + " has " +
                             std::to_string(shape_.parameters()));
  if (o_.chain && info.task_id() != task_id_)
    throw std::runtime_error("murmurd runs task " + std::to_string(info.task_id()) +
                             ", the chain task is " + std::to_string(task_id_));
  task_id_ = info.task_id();
  if (report_.rule.empty()) report_.rule = info.rule();
  const auto global = hash_of(info.global_model_hash());
  if (!global) throw std::runtime_error("the server announced no global model");
  report_.initial_accuracy = score_on_test(*global).first;
  if (chain_) report_.initial_balances = chain_->balances();
  if (v2_) report_.initial_balances = v2_->balances();
  say("simulate: " + std::to_string(o_.nodes) + " nodes (" + std::to_string(o_.byzantine) +
      " Byzantine: " + report_.attacks + "), " + report_.shape + " (" +
      std::to_string(report_.parameters) + " parameters), Dirichlet alpha " +
      std::to_string(o_.alpha) + ", rule " + report_.rule + ", round 0 accuracy " +
      std::to_string(report_.initial_accuracy));

  for (std::size_t k = 0; k < o_.rounds; ++k) {
    info = wait_for(
        [](const wire::RoundInfo& i) {
          return i.stage() == wire::STAGE_UPLOADING || i.stage() == wire::STAGE_CLOSED;
        },
        "the next round to open");
    if (info.stage() == wire::STAGE_CLOSED) break;
    RoundRecord rec;
    rec.round = info.round();
    play_round(rec, info);
    report_.rounds.push_back(std::move(rec));
    say(describe_round(report_, report_.rounds.back()));
  }
  if (v2_) {                               // pull-based payment: every node with a reward claims it
    v2_->tick([](const std::string&) {});  // drops the votes of closed rounds
    report_.claimed = v2_->claim_all();
    chain::U256 total;
    std::size_t claimers = 0;
    for (const auto& c : report_.claimed) total += c, claimers += !c.is_zero();
    say("claims: " + std::to_string(claimers) + " nodes claimed " + format_tokens(total) +
        " tokens of rewards (claim())");
  }
  report_.seconds = since(t0);
  return report_;
}

SimulationReport run_simulation(const SimulationOptions& options, const SimulationData& data,
                                std::ostream* log) {
  Simulation s(options, data, log);
  return s.run();
}

}  // namespace murmur::sim

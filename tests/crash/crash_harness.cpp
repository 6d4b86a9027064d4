// The crash harness (docs/reliability.md): `orgledger serve` is killed with SIGKILL at random
// moments while 4 writers append, then restarted; after every restart the store must hold every
// acknowledged event exactly once, at the position its answer named, with gapless positions, a
// chain that verifies and a state equal to a full replay of the log. A request whose answer was
// lost is retried with the same event ids, as a client must, and must not store anything twice.
//
// Usage: orgledger_crash_harness ORGLEDGER_BINARY [--cycles N] [--long] [--seed S]
//   --long runs 200 cycles. Prints the seed first and the totals last; exit status 1 on any
//   violation. ORGLEDGER_SEED=S also sets the seed.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/authenticator.h"
#include "engine/client.h"
#include "projections/registry.h"
#include "replay/fold.h"
#include "replay/record.h"
#include "tests/support/events.h"
#include "tests/support/secrets.h"
#include "tests/support/temp_dir.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

constexpr int kWriters = 4;

// The server process running now, killed by die(): exit() runs no destructor of main's.
pid_t running_server = -1;

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "crash harness: %s\n", message.c_str());
  if (running_server > 0) ::kill(running_server, SIGKILL);
  std::exit(2);
}

// Event ids: writer number in the first 4 bytes, its sequence number in the last 8; the
// bootstrap events use writer 0xffffffff.
EventIdBytes event_id(uint32_t writer, uint64_t sequence) {
  EventIdBytes id{};
  for (int i = 0; i < 4; ++i) id[i] = static_cast<uint8_t>(writer >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) id[8 + i] = static_cast<uint8_t>(sequence >> (56 - 8 * i));
  return id;
}

// One `orgledger serve` process.
class ServerProcess {
 public:
  ServerProcess(std::string binary, std::string data, std::string auth, std::string logs)
      : binary_(std::move(binary)),
        data_(std::move(data)),
        auth_(std::move(auth)),
        logs_(std::move(logs)) {}
  ~ServerProcess() { kill_now(); }

  // Starts the server and waits for its "serving ... on HOST:PORT" line.
  std::string start() {
    const std::string out = logs_ + "/serve.out";
    const std::string log = logs_ + "/serve.log";
    std::remove(out.c_str());  // the previous server's line must not be read
    pid_ = fork();
    if (pid_ < 0) die("fork failed");
    if (pid_ > 0) running_server = pid_;
    if (pid_ == 0) {
      const int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (out_fd < 0 || log_fd < 0) _exit(126);
      dup2(out_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
      // A small checkpoint interval, so restarts often start from a checkpoint and a kill
      // often lands while one is written.
      execl(binary_.c_str(), binary_.c_str(), "serve", "--data", data_.c_str(), "--auth",
            auth_.c_str(), "--listen", "127.0.0.1:0", "--checkpoint-every", "700", nullptr);
      _exit(127);
    }
    for (int attempt = 0; attempt < 600; ++attempt) {
      std::ifstream in(out);
      std::string line;
      if (std::getline(in, line)) {
        const size_t on = line.rfind(" on ");
        if (on != std::string::npos) return line.substr(on + 4);
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        running_server = -1;
        die("the server exited at start-up; see " + log);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    die("the server did not print its address within 12 s");
  }

  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    running_server = -1;
  }

 private:
  std::string binary_, data_, auth_, logs_;
  pid_t pid_ = -1;
};

std::unique_ptr<Client> sign_in(const std::string& address, const std::string& token) {
  auto client = Client::connect(address);
  if (!client.is_ok()) die("connect: " + client.status().to_string());
  auto signed_in = (*client)->authenticate(Credentials{token, "", "", ""});
  if (!signed_in.is_ok()) die("authenticate: " + signed_in.status().to_string());
  return std::move(*client);
}

struct Request {
  uint64_t first_sequence = 0;
  std::vector<AppendInput> inputs;
  bool sent_before = false;  // its answer was lost at least once
};

// One writer: appends requests of 1..20 usage events until the connection breaks; a request
// without an answer stays pending and is sent again, unchanged, on the next connection.
class Writer {
 public:
  explicit Writer(uint32_t number, uint64_t seed) : number_(number), random_(seed) {}

  // Runs until the server goes away. Unexpected errors (a refusal) abort the harness.
  void run(const std::string& address, const std::string& token) {
    auto client = Client::connect(address);
    if (!client.is_ok()) return;
    if (!(*client)->authenticate(Credentials{token, "", "", ""}).is_ok()) return;
    for (;;) {
      if (!pending_) pending_ = next_request();
      auto reply = (*client)->append(pending_->inputs);
      if (!reply.is_ok()) {
        if (reply.status().code() != Code::kUnavailable) {
          die("writer " + std::to_string(number_) +
              ": unexpected refusal: " + reply.status().to_string());
        }
        pending_->sent_before = true;
        return;
      }
      record_answer(*reply);
    }
  }

  // Sends the pending request, if any, once more; it must be answered now.
  void settle(const std::string& address, const std::string& token) {
    if (!pending_) return;
    auto client = sign_in(address, token);
    auto reply = client->append(pending_->inputs);
    if (!reply.is_ok()) die("retry: " + reply.status().to_string());
    record_answer(*reply);
  }

  uint32_t number() const { return number_; }
  // sequence -> the position its answer named.
  const std::map<uint64_t, uint64_t>& acknowledged() const { return acknowledged_; }
  const std::optional<Request>& pending() const { return pending_; }
  uint64_t retried() const { return retried_; }
  uint64_t retried_already_stored() const { return retried_already_stored_; }

 private:
  void record_answer(const AppendReply& reply) {
    if (reply.positions.size() != pending_->inputs.size()) die("an answer without positions");
    for (size_t i = 0; i < pending_->inputs.size(); ++i) {
      acknowledged_[pending_->first_sequence + i] = reply.positions[i];
    }
    if (pending_->sent_before) {
      ++retried_;
      if (reply.stored < pending_->inputs.size()) ++retried_already_stored_;
    }
    pending_.reset();
  }

  Request next_request() {
    Request request;
    request.first_sequence = next_sequence_;
    const int count = std::uniform_int_distribution<int>(1, 20)(random_);
    for (int i = 0; i < count; ++i) {
      AppendInput input;
      input.event_id = event_id(number_, next_sequence_++);
      input.event = usage_recorded(number_ % 2 == 0 ? "111111111111" : "222222222222",
                                   "DataTransfer-Out-GB", "0.000001", "2026-10-10T00:00:00Z");
      request.inputs.push_back(std::move(input));
    }
    return request;
  }

  uint32_t number_;
  std::mt19937_64 random_;
  uint64_t next_sequence_ = 1;
  std::optional<Request> pending_;
  std::map<uint64_t, uint64_t> acknowledged_;
  uint64_t retried_ = 0;
  uint64_t retried_already_stored_ = 0;
};

struct Totals {
  uint64_t cycles = 0;
  uint64_t acknowledged = 0;
  uint64_t stored = 0;
  uint64_t lost = 0;
  uint64_t duplicated = 0;
  uint64_t misplaced = 0;   // acknowledged at one position, stored at another
  uint64_t unexpected = 0;  // stored but never sent
  uint64_t gaps = 0;
  uint64_t chain_failures = 0;
  uint64_t digest_mismatches = 0;
  uint64_t retried = 0;
  uint64_t retried_already_stored = 0;
};

// What the log holds, read over the socket incrementally: event id -> positions.
class LogIndex {
 public:
  // Reads the records after the last one read; counts gaps and duplicated ids.
  void catch_up(Client& client, uint64_t head, Totals& totals) {
    while (read_ < head) {
      auto records = client.read(read_ + 1, 1000);
      if (!records.is_ok()) die("read: " + records.status().to_string());
      if (records->empty()) die("read answered no records below the head");
      for (const auto& copy : *records) {
        if (copy.position != read_ + 1) {
          ++totals.gaps;
          std::fprintf(stderr, "gap: position %llu after %llu\n",
                       static_cast<unsigned long long>(copy.position),
                       static_cast<unsigned long long>(read_));
        }
        read_ = copy.position;
        auto record = decode_record(StoredRecord{copy.position, copy.bytes});
        if (!record.is_ok()) die(record.status().to_string());
        const auto* id = (*record)->event_id();
        EventIdBytes bytes{};
        std::copy(id->bytes()->begin(), id->bytes()->end(), bytes.begin());
        auto [entry, inserted] = positions_.emplace(bytes, copy.position);
        if (!inserted) {
          ++totals.duplicated;
          std::fprintf(stderr, "duplicate: an event id at positions %llu and %llu\n",
                       static_cast<unsigned long long>(entry->second),
                       static_cast<unsigned long long>(copy.position));
        }
      }
    }
  }
  std::optional<uint64_t> position_of(const EventIdBytes& id) const {
    auto found = positions_.find(id);
    if (found == positions_.end()) return std::nullopt;
    return found->second;
  }
  size_t size() const { return positions_.size(); }

 private:
  uint64_t read_ = 0;
  std::map<EventIdBytes, uint64_t> positions_;
};

std::string write_auth_file(const std::string& directory, std::string& token) {
  auto created = new_operator_token("crash-harness", Role::kAdmin);
  if (!created.is_ok()) die(created.status().to_string());
  token = created->token;
  const std::string path = directory + "/auth";
  std::ofstream(path) << created->auth_line << "\n";
  return path;
}

// The checks after a restart. `final` = no request is pending any more.
void check_store(Client& client, LogIndex& index, const std::vector<Writer>& writers,
                 uint64_t bootstrap_events, bool final, Totals& totals) {
  auto head = client.hello();
  if (!head.is_ok()) die("hello: " + head.status().to_string());
  index.catch_up(client, *head, totals);

  // Every acknowledged event is stored, once, where its answer said.
  uint64_t acknowledged = 0;
  uint64_t pending_stored = 0;
  for (const Writer& writer : writers) {
    for (const auto& [sequence, position] : writer.acknowledged()) {
      ++acknowledged;
      auto stored = index.position_of(event_id(writer.number(), sequence));
      if (!stored) {
        ++totals.lost;
        std::fprintf(stderr, "lost: writer %u event %llu (acknowledged at %llu)\n", writer.number(),
                     static_cast<unsigned long long>(sequence),
                     static_cast<unsigned long long>(position));
      } else if (*stored != position) {
        ++totals.misplaced;
      }
    }
    if (writer.pending()) {
      for (const AppendInput& input : writer.pending()->inputs) {
        if (index.position_of(input.event_id)) ++pending_stored;
      }
    }
  }
  // Nothing is stored that was not sent: the log holds the bootstrap, the acknowledged events
  // and possibly some of the pending ones (stored, but their answer was lost).
  if (index.size() > bootstrap_events + acknowledged + pending_stored) {
    totals.unexpected += index.size() - (bootstrap_events + acknowledged + pending_stored);
  }
  if (final && index.size() != bootstrap_events + acknowledged) {
    die("after the last retries the log holds " + std::to_string(index.size()) +
        " events, expected " + std::to_string(bootstrap_events + acknowledged));
  }
  totals.acknowledged = acknowledged;
  totals.stored = index.size();
  if (index.size() != *head) ++totals.gaps;

  // The chain verifies over the whole log.
  auto verified = client.verify(1, 0);
  if (!verified.is_ok() || !verified->status.is_ok() || verified->records != *head) {
    ++totals.chain_failures;
    std::fprintf(stderr, "chain: %s (%llu records checked)\n",
                 (verified.is_ok() ? verified->status : verified.status()).to_string().c_str(),
                 static_cast<unsigned long long>(verified.is_ok() ? verified->records : 0));
  }

  // The state the server started with (checkpoint + the log after it) equals a full replay.
  auto served = client.digest();
  if (!served.is_ok()) die("digest: " + served.status().to_string());
  RemoteRecordSource remote(client);
  auto replayed = replay_to_position(remote, served->first);
  if (!replayed.is_ok()) die("replay: " + replayed.status().to_string());
  if (digest(*replayed) != served->second) {
    ++totals.digest_mismatches;
    std::fprintf(stderr, "digest: the served state differs from a full replay at %llu\n",
                 static_cast<unsigned long long>(served->first));
  }
}

bool clean(const Totals& totals) {
  return totals.lost == 0 && totals.duplicated == 0 && totals.misplaced == 0 &&
         totals.unexpected == 0 && totals.gaps == 0 && totals.chain_failures == 0 &&
         totals.digest_mismatches == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    die("usage: orgledger_crash_harness ORGLEDGER_BINARY [--cycles N] [--long] [--seed S]");
  const std::string binary = argv[1];
  int cycles = 20;
  uint64_t seed = std::random_device{}();
  if (const char* from_env = std::getenv("ORGLEDGER_SEED"))
    seed = std::strtoull(from_env, nullptr, 10);
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--long") {
      cycles = 200;
    } else if (arg == "--cycles" && i + 1 < argc) {
      cycles = std::atoi(argv[++i]);
    } else if (arg == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      die("unknown argument \"" + arg + "\"");
    }
  }
  if (cycles < 1) die("--cycles must be at least 1");
  std::printf("crash harness: seed %llu, %d cycles (ORGLEDGER_SEED=%llu reruns it)\n",
              static_cast<unsigned long long>(seed), cycles, static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  std::mt19937_64 random(seed);

  TempDir dir;
  const std::string data = dir.str() + "/data";
  std::string token;
  const std::string auth = write_auth_file(dir.str(), token);
  ServerProcess server(binary, data, auth, dir.str());

  // The organization the usage is billed to: the worked example's accounts, prices and usage.
  uint64_t bootstrap_events = 0;
  {
    auto client = sign_in(server.start(), token);
    std::vector<AppendInput> inputs = inputs_of(worked_example_events());
    for (size_t i = 0; i < inputs.size(); ++i) inputs[i].event_id = event_id(0xffffffff, i + 1);
    auto reply = client->append(inputs);
    if (!reply.is_ok()) die("bootstrap: " + reply.status().to_string());
    bootstrap_events = inputs.size();
    server.kill_now();
  }

  std::vector<Writer> writers;
  for (int w = 0; w < kWriters; ++w) writers.emplace_back(static_cast<uint32_t>(w + 1), random());
  LogIndex index;
  Totals totals;
  for (int cycle = 1; cycle <= cycles && clean(totals); ++cycle) {
    const std::string address = server.start();
    check_store(*sign_in(address, token), index, writers, bootstrap_events, false, totals);
    std::vector<std::thread> threads;
    for (Writer& writer : writers) {
      threads.emplace_back([&writer, &address, &token] { writer.run(address, token); });
    }
    // Kill at a random moment: sometimes before the writers are connected, mostly mid-stream.
    std::uniform_int_distribution<int> early(0, 10), mid_stream(20, 400);
    const int delay = random() % 10 == 0 ? early(random) : mid_stream(random);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    server.kill_now();
    for (std::thread& thread : threads) thread.join();
    ++totals.cycles;
  }

  // The last restart: each pending request is retried once more and must be answered; then
  // the log must hold exactly the bootstrap and the acknowledged events.
  if (clean(totals)) {
    const std::string address = server.start();
    for (Writer& writer : writers) writer.settle(address, token);
    check_store(*sign_in(address, token), index, writers, bootstrap_events, true, totals);
    server.kill_now();
  }

  for (const Writer& writer : writers) {
    totals.retried += writer.retried();
    totals.retried_already_stored += writer.retried_already_stored();
  }
  std::printf(
      "crash harness: cycles %llu, acknowledged events %llu, stored %llu, retried requests %llu "
      "(%llu already stored), lost %llu, duplicated %llu, misplaced %llu, unexpected %llu, "
      "gaps %llu, chain failures %llu, digest mismatches %llu\n",
      static_cast<unsigned long long>(totals.cycles),
      static_cast<unsigned long long>(totals.acknowledged),
      static_cast<unsigned long long>(totals.stored),
      static_cast<unsigned long long>(totals.retried),
      static_cast<unsigned long long>(totals.retried_already_stored),
      static_cast<unsigned long long>(totals.lost),
      static_cast<unsigned long long>(totals.duplicated),
      static_cast<unsigned long long>(totals.misplaced),
      static_cast<unsigned long long>(totals.unexpected),
      static_cast<unsigned long long>(totals.gaps),
      static_cast<unsigned long long>(totals.chain_failures),
      static_cast<unsigned long long>(totals.digest_mismatches));
  return clean(totals) ? 0 : 1;
}

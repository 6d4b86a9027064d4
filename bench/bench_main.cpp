// orgledger_bench: the benchmark driver (issue 7; bench/README.md). Each subcommand runs one
// scenario and prints one JSON line of figures; scripts/bench runs them all, orgledger and the
// same-run baselines, and writes the table. Correctness (counts, digests) is checked here and
// fails the command; timing is only reported.
#include <fmt/core.h>
#include <libpq-fe.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/write_batch.h>
#include <simdjson.h>
#include <sqlite3.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "bench/workload.h"
#include "engine/client.h"
#include "engine/store.h"
#include "engine/transfer.h"
#include "engine/wal_cache.h"
#include "projections/json_writer.h"
#include "projections/ledger_keys.h"
#include "replay/fold.h"
#include "replay/record.h"
#include "replay/verify.h"

namespace orgledger::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A rate as the JSON lines give it: `count` per second, no decimals.
std::string per_second(uint64_t count, double seconds) {
  return fmt::format("{:.0f}", static_cast<double>(count) / seconds);
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "error: %s\n", what.c_str());
  std::exit(1);
}

void check(const Status& status, const std::string& what) {
  if (!status.is_ok()) die(what + ": " + status.to_string());
}

// Percentile (0..100) of latencies in microseconds.
double percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t at = std::min(values.size() - 1,
                             static_cast<size_t>(p / 100.0 * static_cast<double>(values.size())));
  return values[at];
}

// Timing is reported, never asserted; these are display figures, so floating point is fine here.
void report(JsonWriter& out) { std::printf("%s\n", out.str().c_str()); }

// `connections` threads, each calling `write(c, i)` for i in [0, per_connection): one durable
// write of one event, answering its Status. Reports events/s and the latency of each write as
// scenario `name`; the first failure stops every thread and fails the command.
template <typename Write>
void run_singles(const std::string& name, int connections, uint64_t per_connection, Write write) {
  std::vector<std::vector<double>> latencies(connections);
  std::atomic<bool> failed{false};
  std::mutex failure_mutex;
  std::string failure;
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      for (uint64_t i = 0; i < per_connection && !failed; ++i) {
        const auto sent = Clock::now();
        const Status written = write(c, i);
        latencies[c].push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - sent).count());
        if (!written.is_ok()) {
          std::lock_guard lock(failure_mutex);
          if (!failed.exchange(true)) failure = written.to_string();
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const double seconds = seconds_since(start);
  if (failed) die(name + ": " + failure);
  std::vector<double> all;
  for (auto& each : latencies) all.insert(all.end(), each.begin(), each.end());
  JsonWriter out;
  out.begin_object()
      .field("scenario", name)
      .field("events", static_cast<uint64_t>(all.size()))
      .field("connections", static_cast<uint64_t>(connections))
      .field("seconds", fmt::format("{:.3f}", seconds))
      .field("per_second", per_second(all.size(), seconds))
      .field("p50_us", fmt::format("{:.0f}", percentile(all, 50)))
      .field("p99_us", fmt::format("{:.0f}", percentile(all, 99)))
      .field("p999_us", fmt::format("{:.0f}", percentile(all, 99.9)))
      .end_object();
  report(out);
}

struct Connection {
  std::string address;
  std::string token_file;
  std::string tls_ca;
};

std::unique_ptr<Client> connect(const Connection& where) {
  std::ifstream in(where.token_file);
  std::string token;
  if (!std::getline(in, token)) die("cannot read the token file " + where.token_file);
  auto client = Client::connect(where.address, ClientOptions{where.tls_ca});
  if (!client.is_ok()) die(client.status().to_string());
  auto signed_in = (*client)->authenticate(Credentials{token, "", "", ""});
  if (!signed_in.is_ok()) die(signed_in.status().to_string());
  return std::move(*client);
}

// The append frames of usage events [0, n) in requests of `batch`.
std::vector<std::string> usage_frames(const Workload& workload, uint64_t n, size_t batch) {
  std::vector<std::string> frames;
  std::vector<AppendInput> inputs;
  for (uint64_t i = 0; i < n; ++i) {
    inputs.push_back(workload.usage(i));
    if (inputs.size() == batch || i + 1 == n) {
      frames.push_back(Client::append_frame(frames.size() + 1, inputs));
      inputs.clear();
    }
  }
  return frames;
}

// bulk: every usage event over `connections` connections in requests of `batch`, each
// connection keeping `window` requests in flight. Checks that every event was stored once.
int run_bulk(const Workload& workload, const Connection& where, int connections, size_t batch,
             int window) {
  const uint64_t n = workload.options().usage_events;
  const std::vector<std::string> frames = usage_frames(workload, n, batch);
  std::vector<std::unique_ptr<Client>> clients;
  for (int c = 0; c < connections; ++c) clients.push_back(connect(where));
  const uint64_t head_before = clients[0]->hello().value();
  std::atomic<uint64_t> stored{0};
  std::atomic<bool> failed{false};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      Client& client = *clients[c];
      std::vector<size_t> mine;
      for (size_t f = static_cast<size_t>(c); f < frames.size(); f += connections)
        mine.push_back(f);
      size_t sent = 0, received = 0;
      while (received < mine.size() && !failed) {
        while (sent < mine.size() && sent - received < static_cast<size_t>(window)) {
          if (!client.send(frames[mine[sent++]]).is_ok()) failed = true;
        }
        auto response = client.receive();
        if (!response.is_ok()) {
          failed = true;
          break;
        }
        const auto* root = flatbuffers::GetRoot<wire::Response>(response->data());
        if (root->body_type() != wire::ResponseBody::AppendResponse) {
          std::fprintf(stderr, "append refused: %s\n",
                       wire::status_of(*root->body_as_Error()).to_string().c_str());
          failed = true;
          break;
        }
        stored += root->body_as_AppendResponse()->stored();
        ++received;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const double seconds = seconds_since(start);
  if (failed) die("bulk: an append failed");
  const uint64_t head_after = clients[0]->hello().value();
  if (stored != n || head_after != head_before + n) {
    die("bulk: " + std::to_string(stored.load()) + " of " + std::to_string(n) +
        " events stored, head " + std::to_string(head_before) + " -> " +
        std::to_string(head_after));
  }
  auto served = clients[0]->digest();
  check(served.is_ok() ? Status::ok() : served.status(), "digest");
  JsonWriter out;
  out.begin_object()
      .field("scenario", "bulk")
      .field("events", n)
      .field("connections", static_cast<uint64_t>(connections))
      .field("batch", static_cast<uint64_t>(batch))
      .field("seconds", fmt::format("{:.3f}", seconds))
      .field("per_second", per_second(n, seconds))
      .field("head", head_after)
      .field("digest", to_hex(served->second))
      .end_object();
  report(out);
  return 0;
}

// small: `connections` connections, each appending one event per request, `per_connection`
// requests each; latency per request.
int run_small(const Workload& workload, const Connection& where, int connections,
              uint64_t per_connection) {
  std::vector<std::unique_ptr<Client>> clients;
  for (int c = 0; c < connections; ++c) clients.push_back(connect(where));
  // The requests are encoded before the clock starts, as in bulk: the load generator shares
  // the machine's cores with the server.
  std::vector<std::vector<std::string>> frames(connections);
  for (int c = 0; c < connections; ++c) {
    for (uint64_t i = 0; i < per_connection; ++i) {
      frames[c].push_back(Client::append_frame(
          i + 1, {workload.usage(static_cast<uint64_t>(c) * per_connection + i)}));
    }
  }
  run_singles("small", connections, per_connection, [&](int c, uint64_t i) -> Status {
    Client& client = *clients[c];
    ORGLEDGER_RETURN_IF_ERROR(client.send(frames[c][i]));
    auto response = client.receive();
    if (!response.is_ok()) return response.status();
    const auto* root = flatbuffers::GetRoot<wire::Response>(response->data());
    if (root->body_type() == wire::ResponseBody::Error) {
      return wire::status_of(*root->body_as_Error());
    }
    if (root->body_type() != wire::ResponseBody::AppendResponse ||
        root->body_as_AppendResponse()->stored() != 1) {
      return Status(Code::kInternal, Reason::kNone, "an append was not stored");
    }
    return Status::ok();
  });
  return 0;
}

// Whether the server's stats report RocksDB idle: no flush or compaction running and none
// pending. Dies on a stats document it cannot read.
bool store_at_rest(Client& client) {
  auto stats = client.stats();
  if (!stats.is_ok()) die("query: stats: " + stats.status().to_string());
  simdjson::ondemand::parser parser;
  simdjson::padded_string text(*stats);
  simdjson::ondemand::document document;
  uint64_t flushes = 0, compactions = 0, pending = 0;
  if (parser.iterate(text).get(document) || document["running_flushes"].get_uint64().get(flushes) ||
      document["running_compactions"].get_uint64().get(compactions) ||
      document["pending_compaction_bytes"].get_uint64().get(pending)) {
    die("query: the server's stats lack RocksDB's background work: " + *stats);
  }
  return flushes == 0 && compactions == 0 && pending == 0;
}

// query: the consolidated bill of the largest organization, `requests` times in full, then
// `requests` times as the summary (no per-account lines). The first request of each computes
// it; the server answers the others from its cache until the next commit, so the first latency
// is reported apart. With `settle_seconds` > 0 ("query_at_rest"), it first waits until RocksDB
// has finished the flushes and compactions a load left behind (at most that long).
int run_query(const Workload& workload, const Connection& where, int requests, int settle_seconds) {
  auto client = connect(where);
  double settled_ms = 0;
  if (settle_seconds > 0) {
    const auto start = Clock::now();
    while (!store_at_rest(*client)) {
      if (seconds_since(start) > settle_seconds) {
        die(fmt::format("query: RocksDB's background work did not finish within {} s",
                        settle_seconds));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    settled_ms = seconds_since(start) * 1000;
  }
  const std::string payer = workload.largest().payer;
  struct Series {
    std::vector<double> latencies;
    std::string first;
  };
  auto measure = [&](bool summary) {
    Series series;
    for (int r = 0; r < requests; ++r) {
      const auto sent = Clock::now();
      auto bill = client->get_bill(payer, "2026-10", "", true, "", summary);
      series.latencies.push_back(
          std::chrono::duration<double, std::micro>(Clock::now() - sent).count());
      if (!bill.is_ok()) die("query: " + bill.status().to_string());
      if (r == 0) series.first = *bill;
      if (*bill != series.first) die("query: the bill changed between requests");
    }
    return series;
  };
  Series full = measure(false);
  Series summary = measure(true);
  // The summary is the full bill without its "lines".
  const size_t lines = full.first.find(",\"lines\":[");
  const size_t corrections = full.first.find("],\"corrections\":[");
  if (lines == std::string::npos || corrections == std::string::npos ||
      summary.first != full.first.substr(0, lines) + full.first.substr(corrections + 1)) {
    die("query: the summary is not the bill without its lines");
  }
  JsonWriter out;
  out.begin_object()
      .field("scenario", settle_seconds > 0 ? "query_at_rest" : "query")
      .field("requests", static_cast<uint64_t>(requests))
      .field("accounts", static_cast<uint64_t>(workload.largest().members.size()))
      .field("first_us", fmt::format("{:.0f}", full.latencies.front()))
      .field("p50_us", fmt::format("{:.0f}", percentile(full.latencies, 50)))
      .field("p99_us", fmt::format("{:.0f}", percentile(full.latencies, 99)))
      .field("bill_bytes", static_cast<uint64_t>(full.first.size()))
      .field("summary_first_us", fmt::format("{:.0f}", summary.latencies.front()))
      .field("summary_p50_us", fmt::format("{:.0f}", percentile(summary.latencies, 50)))
      .field("summary_p99_us", fmt::format("{:.0f}", percentile(summary.latencies, 99)))
      .field("summary_bytes", static_cast<uint64_t>(summary.first.size()))
      .field("settled_after_ms", fmt::format("{:.0f}", settled_ms))
      .end_object();
  report(out);
  return 0;
}

// loopback: the floor under the query's figures. As many bytes as the bill, sent whole over a
// loopback TCP connection in answer to a one-byte request, `requests` times one after another,
// with nothing computed, framed or checked, each system call handed all that is left (as the
// server and the client do): what the kernel's copies and the two threads' wake-ups alone cost
// on this machine.
int run_loopback(uint64_t bytes, int requests) {
  namespace asio = boost::asio;
  using asio::ip::tcp;
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  const std::string answer(bytes, 'x');
  std::thread server([&] {
    boost::system::error_code error;
    tcp::socket socket(io);
    acceptor.accept(socket, error);
    if (error) die("loopback: accept: " + error.message());
    socket.set_option(tcp::no_delay(true));
    char request = 0;
    while (asio::read(socket, asio::buffer(&request, 1), error) == 1) {
      asio::write(socket, asio::buffer(answer), TransferWhole{}, error);
      if (error) break;
    }
  });
  boost::system::error_code error;
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint(), error);
  if (error) die("loopback: connect: " + error.message());
  client.set_option(tcp::no_delay(true));
  std::vector<char> received(bytes);
  std::vector<double> latencies;
  for (int r = 0; r < requests; ++r) {
    const auto sent = Clock::now();
    asio::write(client, asio::buffer("q", 1), error);
    if (!error) asio::read(client, asio::buffer(received), TransferWhole{}, error);
    if (error) die("loopback: " + error.message());
    latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - sent).count());
    if (received.front() != 'x' || received.back() != 'x') die("loopback: the answer changed");
  }
  client.close();
  server.join();
  JsonWriter out;
  out.begin_object()
      .field("scenario", "loopback")
      .field("requests", static_cast<uint64_t>(requests))
      .field("bytes", bytes)
      .field("p50_us", fmt::format("{:.0f}", percentile(latencies, 50)))
      .field("p99_us", fmt::format("{:.0f}", percentile(latencies, 99)))
      .end_object();
  report(out);
  return 0;
}

// replay / verify: over an embedded store (the server stopped).
int run_replay(const std::string& data, bool verify) {
  auto store = Store::open(data, StoreOptions::existing_read_only());
  if (!store.is_ok()) die(store.status().to_string());
  const uint64_t head = (*store)->head()->position;
  const auto start = Clock::now();
  JsonWriter out;
  out.begin_object().field("scenario", verify ? "verify" : "replay").field("events", head);
  if (verify) {
    const VerifyReport report = verify_chain(**store, 1, std::numeric_limits<uint64_t>::max(),
                                             std::max(1u, std::thread::hardware_concurrency()));
    if (!report.status.is_ok()) die("verify: " + report.status.to_string());
  } else {
    Registry state;
    auto summary = fold(**store, FoldRange{}, state);
    if (!summary.is_ok()) die("replay: " + summary.status().to_string());
    out.field("digest", to_hex(digest(state)));
  }
  const double seconds = seconds_since(start);
  out.field("seconds", fmt::format("{:.3f}", seconds))
      .field("per_second", per_second(head, seconds))
      .end_object();
  report(out);
  return 0;
}

// When the baselines' records say they were recorded: the first moment after the month.
Micros baseline_recorded_at() { return month_start(kBenchMonth + 1); }

// The stored records of the usage events, chained as the engine chains them, in batches:
// `visit(batch)` gets each batch of (position, record bytes, their hash, input).
struct BaselineRecord {
  uint64_t position;
  std::string bytes;
  Hash hash;  // SHA-256(bytes), the next record's previous hash
  AppendInput input;
};
template <typename Visit>
void for_each_batch(const Workload& workload, size_t batch, Visit visit) {
  Hash previous{};
  const Micros recorded_at = baseline_recorded_at();
  std::vector<BaselineRecord> records;
  const uint64_t n = workload.options().usage_events;
  for (uint64_t i = 0; i < n; ++i) {
    AppendInput input = workload.usage(i);
    std::string bytes =
        encode_record(i + 1, recorded_at, input.event_id, "operator:bench", previous, input.event);
    previous = sha256(bytes);
    records.push_back({i + 1, std::move(bytes), previous, std::move(input)});
    if (records.size() == batch || i + 1 == n) {
      visit(records);
      records.clear();
    }
  }
}

// CPU seconds used so far by the calling thread (CLOCK_THREAD_CPUTIME_ID) or by the whole
// process (CLOCK_PROCESS_CPUTIME_ID).
double cpu_seconds(clockid_t clock) {
  timespec now{};
  if (clock_gettime(clock, &now) != 0) die("cannot read a CPU clock");
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

struct SyncedWrites {
  double seconds = 0;  // spent in the writes alone
  uint64_t written = 0;
  // RocksDB's CPU time: the writing thread's within the writes, and every other thread's (its
  // flushes and compactions) while they ran; what it still does afterwards is not counted.
  double rocksdb_cpu_seconds = 0;
  double writing_thread_cpu_seconds = 0;  // of that, the writing thread's within the writes
};

// Hands the workload's records, `batch` at a time, to `write(records, timed)`, which builds what
// it writes and then writes it, synced, inside `timed(synced_write)`: only synced_write is
// timed, and its thread's CPU counted, with every other thread's meanwhile. Must run while no
// other thread of ours works.
template <typename Write>
SyncedWrites time_synced_writes(const Workload& workload, size_t batch, Write write) {
  SyncedWrites result;
  const double process_start = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
  const double thread_start = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
  const auto timed = [&](const auto& synced_write) {
    const auto start = Clock::now();
    const double cpu_start = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    synced_write();
    result.writing_thread_cpu_seconds += cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
    result.seconds += seconds_since(start);
  };
  for_each_batch(workload, batch, [&](const std::vector<BaselineRecord>& records) {
    write(records, timed);
    result.written += records.size();
  });
  const double other_threads = (cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - process_start) -
                               (cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - thread_start);
  result.rocksdb_cpu_seconds = result.writing_thread_cpu_seconds + other_threads;
  return result;
}

// Writes the workload's records to `db` in synced WriteBatches of `batch`, each filled by
// `fill(write, records)`; the first failed write fails the command. Building the records and
// the batches is neither timed nor counted.
template <typename Fill>
SyncedWrites write_synced_batches(rocksdb::DB& db, const Workload& workload, size_t batch,
                                  const std::string& what, Fill fill) {
  rocksdb::WriteOptions sync;
  sync.sync = true;
  return time_synced_writes(workload, batch,
                            [&](const std::vector<BaselineRecord>& records, const auto& timed) {
                              rocksdb::WriteBatch write;
                              fill(write, records);
                              rocksdb::Status status;
                              timed([&] { status = db.Write(sync, &write); });
                              if (!status.ok()) die(what + " write: " + status.ToString());
                            });
}

// Reports the JSON line of `scenario`'s synced writes: the records written, their rate, the CPU
// microseconds per record (all of it, and the writing thread's part), and what `more` adds.
template <typename More>
void report_synced_writes(const char* scenario, const SyncedWrites& writes, More more) {
  const auto per_record = [&](double seconds) {
    return fmt::format("{:.2f}", seconds * 1e6 / static_cast<double>(writes.written));
  };
  JsonWriter out;
  out.begin_object()
      .field("scenario", scenario)
      .field("events", writes.written)
      .field("write_per_second", per_second(writes.written, writes.seconds))
      .field("cpu_us_per_record", per_record(writes.rocksdb_cpu_seconds))
      .field("writer_cpu_us_per_record", per_record(writes.writing_thread_cpu_seconds));
  more(out);
  out.end_object();
  report(out);
}
void report_synced_writes(const char* scenario, const SyncedWrites& writes) {
  report_synced_writes(scenario, writes, [](JsonWriter&) {});
}

// The baselines' RocksDB options: defaults, with the write-ahead log's durable pages dropped from
// the page cache as orgledger's store drops them (engine/wal_cache.h), so that the ceiling is
// not held back by what orgledger avoids.
rocksdb::Options baseline_options() {
  static const std::unique_ptr<rocksdb::Env> env =
      rocksdb::NewCompositeEnv(dropping_synced_wal_pages(rocksdb::FileSystem::Default()));
  rocksdb::Options options;
  options.create_if_missing = true;
  options.env = env.get();
  return options;
}

// The raw RocksDB ceiling: the same record bytes in WriteBatch(batch) with sync=true, then a
// full scan. Only the writes and the scan are timed. `write_only`: the writes alone, reported
// as "rocksdb_before" (scripts/bench runs it just before bulk, and the whole baseline after the
// other scenarios: bulk's ratio is to both, so that the neighbours of one minute weigh less).
int run_rocksdb(const Workload& workload, const Workload& small, int connections,
                uint64_t per_connection, const std::string& directory, size_t batch,
                bool write_only) {
  const rocksdb::Options options = baseline_options();
  rocksdb::DB* raw = nullptr;
  rocksdb::Status opened = rocksdb::DB::Open(options, directory, &raw);
  if (!opened.ok()) die("rocksdb: " + opened.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  // Not a structured binding: clang 14 cannot capture one in the small scenario's lambda.
  const SyncedWrites timed = write_synced_batches(
      *db, workload, batch, "rocksdb",
      [](rocksdb::WriteBatch& write, const std::vector<BaselineRecord>& records) {
        for (const auto& record : records) {
          write.Put(fmt::format("{:016x}", record.position), record.bytes);
        }
      });
  const uint64_t written = timed.written;
  if (write_only) {
    report_synced_writes("rocksdb_before", timed);
    return 0;
  }
  const auto scan_start = Clock::now();
  uint64_t scanned = 0, bytes = 0;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ++scanned;
    bytes += it->value().size();
  }
  const double scan_seconds = seconds_since(scan_start);
  if (scanned != written) die("rocksdb: scanned " + std::to_string(scanned) + " records");
  report_synced_writes("rocksdb", timed, [&](JsonWriter& out) {
    out.field("scan_per_second", per_second(scanned, scan_seconds)).field("bytes", bytes);
  });

  // small's ceiling: the small scenario's records, each in its own synced write, from
  // `connections` threads at once (RocksDB commits concurrent writers as one group), keyed
  // after the bulk records, on the same database right after its load.
  std::vector<std::string> records;
  for_each_batch(small, 1, [&](const std::vector<BaselineRecord>& one) {
    records.push_back(one.front().bytes);
  });
  rocksdb::WriteOptions sync;
  sync.sync = true;
  run_singles("rocksdb_small", connections, per_connection, [&](int c, uint64_t i) -> Status {
    const uint64_t index = static_cast<uint64_t>(c) * per_connection + i;
    rocksdb::WriteBatch write;
    write.Put(fmt::format("{:016x}", written + 1 + index), records[index]);
    const rocksdb::Status status = db->Write(sync, &write);
    if (status.ok()) return Status::ok();
    return Status(Code::kUnavailable, Reason::kStorageError, status.ToString());
  });
  return 0;
}

// The ledger entry each usage event of the workload updates (ledger_keys::usage_key), with the
// running totals kept here: what the engine's apply computes, without its checks.
class LedgerTotals {
 public:
  explicit LedgerTotals(const Workload& workload) {
    for (const BenchOrganization& organization : workload.organizations()) {
      for (const std::string& member : organization.members) payers_[member] = &organization.payer;
    }
  }
  // The key of `input`'s aggregate and its new total, encoded as the ledger family stores it.
  std::pair<std::string, std::string> add(const AppendInput& input) {
    const auto& usage = *input.event.body.AsUsageRecorded();
    auto payer = payers_.find(usage.account_id);
    if (payer == payers_.end()) die("ledger totals: an account outside every organization");
    std::string key = ledger_keys::usage_key(*payer->second, month_of(input.event.occurred_at),
                                             usage.usage_type, usage.account_id);
    const int64_t total = totals_[key] += usage.quantity;
    return {std::move(key), ledger_keys::encode_quantity(total)};
  }

 private:
  std::unordered_map<std::string_view, const std::string*> payers_;
  std::unordered_map<std::string, int64_t> totals_;
};

// orgledger's own write set on plain RocksDB (baseline_options: RocksDB's defaults), as one would
// build it directly: per event the record, its event id (the position) and the ledger
// entry its usage updates, in three column families, plus the head once per batch, in
// WriteBatch(batch) with sync=true. Only the writes are timed; the ledger's running totals are
// kept outside.
int run_rocksdb_write_set(const Workload& workload, const std::string& directory, size_t batch) {
  rocksdb::Options options = baseline_options();
  options.create_missing_column_families = true;
  const std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName, "events", "event_ids",
                                          "ledger"};
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names) descriptors.emplace_back(name, options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status opened = rocksdb::DB::Open(options, directory, descriptors, &handles, &raw);
  if (!opened.ok()) die("rocksdb write set: " + opened.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  LedgerTotals totals(workload);
  auto fill = [&](rocksdb::WriteBatch& write, const std::vector<BaselineRecord>& records) {
    for (const auto& record : records) {
      const std::string position =
          ledger_keys::encode_quantity(static_cast<int64_t>(record.position));
      write.Put(handles[1], position, record.bytes);
      write.Put(handles[2],
                rocksdb::Slice(reinterpret_cast<const char*>(record.input.event_id.data()), 16),
                position);
      const auto [key, value] = totals.add(record.input);
      write.Put(handles[3], key, value);
    }
    write.Put(handles[0], "head",
              ledger_keys::encode_quantity(static_cast<int64_t>(records.back().position)));
  };
  const SyncedWrites timed = write_synced_batches(*db, workload, batch, "rocksdb write set", fill);
  for (rocksdb::ColumnFamilyHandle* handle : handles) db->DestroyColumnFamilyHandle(handle);
  report_synced_writes("rocksdb_write_set", timed);
  return 0;
}

// orgledger's store alone (engine/store.h, with everything it sets up on RocksDB): the records,
// their ids and the ledger entries they change (each aggregate once per batch, its last total,
// as the engine writes them) handed to Store::append in synced batches of `batch`, from one
// thread. What the engine's writer thread does, with nothing built, checked or applied, nor any
// socket: the ceiling of the store's write set on this machine. Building the inputs is neither
// timed nor counted; CPU time is counted as time_synced_writes counts it.
int run_store(const Workload& workload, const std::string& directory, size_t batch) {
  auto opened = Store::open(directory);
  if (!opened.is_ok()) die("store: " + opened.status().to_string());
  Store& store = **opened;
  if (store.head()->position != 0) die("store: " + directory + " is not empty");
  LedgerTotals totals(workload);
  const SyncedWrites timed = time_synced_writes(
      workload, batch, [&](const std::vector<BaselineRecord>& records, const auto& timed_write) {
        std::vector<NewRecord> batch_records;
        batch_records.reserve(records.size());
        LedgerWrites ledger;
        std::unordered_map<std::string, size_t> written_at;  // a key's place in `ledger`
        for (const BaselineRecord& record : records) {
          batch_records.push_back(NewRecord{record.position, record.bytes, record.hash,
                                            record.input.event_id, baseline_recorded_at()});
          auto [key, value] = totals.add(record.input);
          const auto [at, first] = written_at.try_emplace(key, ledger.size());
          if (first) {
            ledger.emplace_back(std::move(key), std::move(value));
          } else {
            ledger[at->second].second = std::move(value);
          }
        }
        Status status;
        timed_write([&] { status = store.append(batch_records, ledger); });
        if (!status.is_ok()) die("store: " + status.to_string());
      });
  if (store.head()->position != timed.written) die("store: the head is not the last record");
  report_synced_writes("store", timed);
  return 0;
}

// SQLite in WAL mode with synchronous=FULL, batches of `batch` rows per transaction.
int run_sqlite(const Workload& workload, const std::string& file, size_t batch) {
  sqlite3* db = nullptr;
  if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) die("sqlite: cannot open " + file);
  auto exec = [&](const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      die(std::string("sqlite: ") + (error ? error : sql));
    }
  };
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=FULL");
  exec("CREATE TABLE events (position INTEGER PRIMARY KEY, record BLOB NOT NULL)");
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO events VALUES (?, ?)", -1, &insert, nullptr);
  double seconds = 0;
  uint64_t written = 0;
  for_each_batch(workload, batch, [&](const std::vector<BaselineRecord>& records) {
    const auto start = Clock::now();
    exec("BEGIN");
    for (const auto& record : records) {
      sqlite3_bind_int64(insert, 1, static_cast<sqlite3_int64>(record.position));
      sqlite3_bind_blob(insert, 2, record.bytes.data(), static_cast<int>(record.bytes.size()),
                        SQLITE_STATIC);
      if (sqlite3_step(insert) != SQLITE_DONE) die("sqlite: insert failed");
      sqlite3_reset(insert);
    }
    exec("COMMIT");
    seconds += seconds_since(start);
    written += records.size();
  });
  sqlite3_finalize(insert);
  sqlite3_close(db);
  JsonWriter out;
  out.begin_object()
      .field("scenario", "sqlite")
      .field("events", written)
      .field("per_second", per_second(written, seconds))
      .end_object();
  report(out);
  return 0;
}

// PostgreSQL: COPY in transactions of `batch` rows (synchronous_commit=on), then the largest
// organization's month as SQL (sum of quantity per account and usage type), `requests` times.
int run_postgres(const Workload& workload, const Workload& small, int connections,
                 uint64_t per_connection, const std::string& conninfo, size_t batch, int requests) {
  PGconn* db = PQconnectdb(conninfo.c_str());
  if (PQstatus(db) != CONNECTION_OK) die(std::string("postgres: ") + PQerrorMessage(db));
  auto exec = [&](const std::string& sql) {
    PGresult* result = PQexec(db, sql.c_str());
    const auto status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_COPY_IN) {
      die("postgres: " + sql + ": " + PQerrorMessage(db));
    }
    PQclear(result);
  };
  exec("SET synchronous_commit = on");
  exec("DROP TABLE IF EXISTS events");
  exec(
      "CREATE TABLE events (position bigint PRIMARY KEY, account_id text NOT NULL, usage_type text "
      "NOT NULL, quantity bigint NOT NULL, occurred_at bigint NOT NULL, record bytea NOT NULL)");
  double seconds = 0;
  uint64_t written = 0;
  std::string rows;
  for_each_batch(workload, batch, [&](const std::vector<BaselineRecord>& records) {
    rows.clear();
    for (const auto& record : records) {
      const auto& usage = *record.input.event.body.AsUsageRecorded();
      rows += fmt::format(
          "{}\t{}\t{}\t{}\t{}\t\\\\x{}\n", record.position, usage.account_id, usage.usage_type,
          usage.quantity, record.input.event.occurred_at,
          to_hex(reinterpret_cast<const uint8_t*>(record.bytes.data()), record.bytes.size()));
    }
    const auto start = Clock::now();
    exec("BEGIN");
    exec("COPY events FROM STDIN");
    if (PQputCopyData(db, rows.data(), static_cast<int>(rows.size())) != 1 ||
        PQputCopyEnd(db, nullptr) != 1) {
      die(std::string("postgres copy: ") + PQerrorMessage(db));
    }
    PGresult* result = PQgetResult(db);
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
      die(std::string("postgres copy: ") + PQerrorMessage(db));
    }
    PQclear(result);
    exec("COMMIT");
    seconds += seconds_since(start);
    written += records.size();
  });
  exec("CREATE INDEX events_account ON events (account_id)");
  exec("ANALYZE events");
  std::string members = "{";
  for (const std::string& id : workload.largest().members) {
    members += (members.size() > 1 ? "," : "") + id;
  }
  members += "}";
  const std::string from = std::to_string(month_start(kBenchMonth));
  const std::string to = std::to_string(month_start(kBenchMonth + 1));
  const char* values[] = {members.c_str(), from.c_str(), to.c_str()};
  std::vector<double> latencies;
  for (int r = 0; r < requests; ++r) {
    const auto sent = Clock::now();
    PGresult* result = PQexecParams(
        db,
        "SELECT account_id, usage_type, sum(quantity) FROM events WHERE account_id = ANY($1) "
        "AND occurred_at >= $2::bigint AND occurred_at < $3::bigint GROUP BY 1, 2 ORDER BY 1, 2",
        3, nullptr, values, nullptr, nullptr, 0);
    latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - sent).count());
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
      die(std::string("postgres bill: ") + PQerrorMessage(db));
    }
    PQclear(result);
  }
  PQfinish(db);
  JsonWriter out;
  out.begin_object()
      .field("scenario", "postgres")
      .field("events", written)
      .field("per_second", per_second(written, seconds))
      .field("bill_p50_us", fmt::format("{:.0f}", percentile(latencies, 50)))
      .field("bill_p99_us", fmt::format("{:.0f}", percentile(latencies, 99)))
      .end_object();
  report(out);

  // small as PostgreSQL would serve it: `connections` connections, each inserting one row per
  // transaction (autocommit, synchronous_commit=on), into the same table after its load.
  std::vector<std::array<std::string, 6>> rows_of_small;
  for_each_batch(small, 1, [&](const std::vector<BaselineRecord>& one) {
    const BaselineRecord& record = one.front();
    const auto& usage = *record.input.event.body.AsUsageRecorded();
    rows_of_small.push_back({std::to_string(written + record.position), usage.account_id,
                             usage.usage_type, std::to_string(usage.quantity),
                             std::to_string(record.input.event.occurred_at),
                             "\\x" + to_hex(reinterpret_cast<const uint8_t*>(record.bytes.data()),
                                            record.bytes.size())});
  });
  std::vector<PGconn*> sessions;
  for (int c = 0; c < connections; ++c) {
    sessions.push_back(PQconnectdb(conninfo.c_str()));
    if (PQstatus(sessions.back()) != CONNECTION_OK) {
      die(std::string("postgres: ") + PQerrorMessage(sessions.back()));
    }
  }
  run_singles("postgres_small", connections, per_connection, [&](int c, uint64_t i) -> Status {
    const auto& row = rows_of_small[static_cast<uint64_t>(c) * per_connection + i];
    const char* params[6];
    for (size_t p = 0; p < row.size(); ++p) params[p] = row[p].c_str();
    PGresult* result = PQexecParams(sessions[c],
                                    "INSERT INTO events VALUES ($1::bigint, $2, $3, $4::bigint, "
                                    "$5::bigint, $6::bytea)",
                                    6, nullptr, params, nullptr, nullptr, 0);
    const bool inserted = PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    if (inserted) return Status::ok();
    return Status(Code::kUnavailable, Reason::kStorageError, PQerrorMessage(sessions[c]));
  });
  for (PGconn* session : sessions) PQfinish(session);
  return 0;
}

// digest: the served state's digest and head (for comparing with a replay after the stop).
int run_digest(const Connection& where) {
  auto client = connect(where);
  auto served = client->digest();
  if (!served.is_ok()) die("digest: " + served.status().to_string());
  JsonWriter out;
  out.begin_object()
      .field("scenario", "digest")
      .field("head", served->first)
      .field("digest", to_hex(served->second))
      .end_object();
  report(out);
  return 0;
}

// workload: writes the setup JSON Lines (two parts) and, when asked, the usage as JSON Lines
// and as ready protocol frames.
int run_workload(const Workload& workload, const std::string& directory, bool usage_jsonl,
                 bool frames, size_t batch) {
  std::filesystem::create_directories(directory);
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto write = [&](const std::string& name, const std::string& content) {
    std::ofstream out(directory + "/" + name, std::ios::binary);
    out << content;
    if (!out) die("cannot write " + directory + "/" + name);
  };
  write("setup_accounts.jsonl", workload.setup_accounts_jsonl(now));
  write("setup_organizations.jsonl", workload.setup_organizations_jsonl());
  if (usage_jsonl) {
    std::ofstream out(directory + "/usage.jsonl", std::ios::binary);
    for (uint64_t i = 0; i < workload.options().usage_events; ++i) {
      out << workload.usage_jsonl(i) << '\n';
    }
  }
  if (frames) {
    std::ofstream out(directory + "/usage.frames", std::ios::binary);
    for (const std::string& frame :
         usage_frames(workload, workload.options().usage_events, batch)) {
      out << frame;
    }
  }
  JsonWriter report_out;
  report_out.begin_object()
      .field("scenario", "workload")
      .field("organizations", static_cast<uint64_t>(workload.organizations().size()))
      .field("accounts", static_cast<uint64_t>(workload.account_count()))
      .field("largest_payer", workload.largest().payer)
      .field("largest_accounts", static_cast<uint64_t>(workload.largest().members.size()))
      .field("usage_types", static_cast<uint64_t>(workload.usage_types().size()))
      .field("usage_events", workload.options().usage_events)
      .end_object();
  report(report_out);
  return 0;
}

}  // namespace
}  // namespace orgledger::bench

int main(int argc, char** argv) {
  using namespace orgledger::bench;
  CLI::App app{"orgledger_bench: the benchmark scenarios and baselines (scripts/bench runs them)"};
  app.require_subcommand(1);
  WorkloadOptions options;
  app.add_option("--seed", options.seed, "workload seed")->capture_default_str();
  app.add_option("--organizations", options.organizations)->capture_default_str();
  app.add_option("--max-accounts", options.max_accounts, "accounts of the largest organization")
      ->capture_default_str();
  app.add_option("--events", options.usage_events, "usage events")->capture_default_str();
  app.add_option("--catalogue", options.catalogue_path, "price catalogue (JSON Lines)")->required();
  size_t batch = 1000;
  app.add_option("--batch", batch, "events per request or transaction")->capture_default_str();
  Connection where;
  auto connection_options = [&](CLI::App* command) {
    command->add_option("--connect", where.address)->required();
    command->add_option("--token-file", where.token_file)->required();
    command->add_option("--tls-ca", where.tls_ca);
  };

  std::string directory;
  bool usage_jsonl = false, frames = false;
  auto* workload_command = app.add_subcommand("workload", "write the workload's files");
  workload_command->add_option("--out", directory)->required();
  workload_command->add_flag("--usage-jsonl", usage_jsonl);
  workload_command->add_flag("--frames", frames);
  int connections = 4, window = 8, requests = 200;
  uint64_t per_connection = 500;
  auto* bulk = app.add_subcommand("bulk", "append every usage event");
  connection_options(bulk);
  bulk->add_option("--connections", connections)->capture_default_str();
  bulk->add_option("--window", window, "requests in flight per connection")->capture_default_str();
  auto* small = app.add_subcommand("small", "one event per request from many connections");
  connection_options(small);
  small->add_option("--connections", connections)->capture_default_str();
  small->add_option("--per-connection", per_connection)->capture_default_str();
  auto* query = app.add_subcommand("query", "the largest organization's bill");
  connection_options(query);
  query->add_option("--requests", requests)->capture_default_str();
  int settle_seconds = 0;
  query
      ->add_option("--at-rest", settle_seconds,
                   "first wait until RocksDB's flushes and compactions are done, at most this "
                   "many seconds")
      ->check(CLI::Range(1, 3600));
  uint64_t loopback_bytes = 0;
  auto* loopback = app.add_subcommand(
      "loopback", "baseline: as many bytes as the bill over loopback TCP, nothing else");
  loopback->add_option("--bytes", loopback_bytes)->required()->check(CLI::Range(1, 1 << 30));
  loopback->add_option("--requests", requests)
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  auto* digest_command = app.add_subcommand("digest", "the served state's digest");
  connection_options(digest_command);
  std::string data;
  auto* replay = app.add_subcommand("replay", "fold the whole log of a store");
  replay->add_option("--data", data)->required();
  auto* verify = app.add_subcommand("verify", "check the whole hash chain of a store");
  verify->add_option("--data", data)->required();
  auto* rocksdb_command = app.add_subcommand("rocksdb", "baseline: raw RocksDB");
  rocksdb_command->add_option("--dir", directory)->required();
  bool write_only = false;
  rocksdb_command->add_flag("--write-only", write_only,
                            "only the synced batches (\"rocksdb_before\"): no scan, no small");
  // The baselines of small: as many writers, each writing one event at a time.
  int small_connections = 64;
  uint64_t small_per_connection = 500;
  const auto small_options = [&](CLI::App* command) {
    command->add_option("--small-connections", small_connections)->capture_default_str();
    command->add_option("--small-per-connection", small_per_connection)->capture_default_str();
  };
  small_options(rocksdb_command);
  auto* write_set_command = app.add_subcommand(
      "rocksdb-write-set", "baseline: orgledger's write set (record, id, ledger) on raw RocksDB");
  write_set_command->add_option("--dir", directory)->required();
  auto* store_command = app.add_subcommand(
      "store", "ceiling: orgledger's store alone, Store::append of ready records and entries");
  store_command->add_option("--dir", directory)->required();
  std::string file;
  auto* sqlite_command = app.add_subcommand("sqlite", "baseline: SQLite WAL, synchronous=FULL");
  sqlite_command->add_option("--file", file)->required();
  std::string conninfo;
  auto* postgres = app.add_subcommand("postgres", "baseline: PostgreSQL COPY and the bill as SQL");
  postgres->add_option("--conninfo", conninfo)->required();
  postgres->add_option("--requests", requests)->capture_default_str();
  small_options(postgres);
  CLI11_PARSE(app, argc, argv);

  auto workload = Workload::make(options);
  if (!workload.is_ok()) die(workload.status().to_string());
  if (workload_command->parsed()) {
    return run_workload(*workload, directory, usage_jsonl, frames, batch);
  }
  if (bulk->parsed()) return run_bulk(*workload, where, connections, batch, window);
  // small's events: other ids than bulk's, the same accounts and types under another seed.
  auto small_workload = [&](int writers, uint64_t each) {
    WorkloadOptions other = options;
    other.seed = options.seed + 1'000'003;
    other.usage_events = static_cast<uint64_t>(writers) * each;
    auto made = Workload::make(other);
    if (!made.is_ok()) die(made.status().to_string());
    return std::move(*made);
  };
  if (small->parsed())
    return run_small(small_workload(connections, per_connection), where, connections,
                     per_connection);
  if (query->parsed()) return run_query(*workload, where, requests, settle_seconds);
  if (digest_command->parsed()) return run_digest(where);
  if (loopback->parsed()) return run_loopback(loopback_bytes, requests);
  if (replay->parsed()) return run_replay(data, false);
  if (verify->parsed()) return run_replay(data, true);
  if (rocksdb_command->parsed()) {
    return run_rocksdb(*workload, small_workload(small_connections, small_per_connection),
                       small_connections, small_per_connection, directory, batch, write_only);
  }
  if (write_set_command->parsed()) return run_rocksdb_write_set(*workload, directory, batch);
  if (store_command->parsed()) return run_store(*workload, directory, batch);
  if (sqlite_command->parsed()) return run_sqlite(*workload, file, batch);
  if (postgres->parsed()) {
    return run_postgres(*workload, small_workload(small_connections, small_per_connection),
                        small_connections, small_per_connection, conninfo, batch, requests);
  }
  return 2;
}

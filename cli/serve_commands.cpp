// `orgledger serve` and `orgledger tail`.
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>
#include <cstdio>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/client.h"
#include "engine/sequencer.h"
#include "engine/server.h"
#include "projections/json_writer.h"
#include "replay/record.h"

namespace orgledger::cli {
namespace {

// One JSON line of `tail`: the stored record's envelope around the event's JSON Lines form.
std::string record_line(const StoredRecord& stored) {
  auto record = decode_record(stored);
  if (!record.is_ok()) return "";
  EventIdBytes id{};
  std::copy((*record)->event_id()->bytes()->begin(), (*record)->event_id()->bytes()->end(),
            id.begin());
  JsonWriter out;
  out.begin_object()
      .field("position", stored.position)
      .field("recorded_at", format_time((*record)->recorded_at()))
      .field("actor", (*record)->actor() ? (*record)->actor()->string_view() : "");
  std::string line = out.str();
  line += ",\"event\":" + event_to_json(*(*record)->event(), id) + "}";
  return line;
}

}  // namespace

int run_serve(const ServeArgs& args) {
  // Logs go to stderr; stdout carries only the "serving ... on HOST:PORT" line scripts read.
  spdlog::set_default_logger(spdlog::stderr_color_mt("orgledger"));
  // Every thread started from here on blocks SIGINT and SIGTERM; one thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto tokens = load_auth_file(args.auth_file);
  if (!tokens.is_ok()) return fail(tokens.status());
  if (args.lockout_after < 1 || args.lockout_seconds < 1) {
    return fail(invalid("--lockout-after and --lockout-seconds must be at least 1"));
  }
  EngineOptions engine_options;
  engine_options.checkpoint_every = args.checkpoint_every;
  auto engine = Engine::open(args.data, std::move(engine_options));
  if (!engine.is_ok()) return fail(engine.status());
  Sequencer sequencer(std::move(*engine));
  ServerOptions options;
  options.tokens = std::move(*tokens);
  options.lockout.lock_after = args.lockout_after;
  options.lockout.slow_after = std::min(options.lockout.slow_after, args.lockout_after - 1);
  options.lockout.lock_for = std::chrono::seconds(args.lockout_seconds);
  options.tls_cert_file = args.tls_cert;
  options.tls_key_file = args.tls_key;
  options.listen = args.listen;
  options.max_connections = args.max_connections;
  options.idle_timeout = std::chrono::seconds(args.idle_timeout_seconds);
  options.max_frame_bytes = args.max_frame_bytes;
  auto server = Server::start(sequencer, options);
  if (!server.is_ok()) return fail(server.status());
  auto address = parse_host_port(args.listen);
  std::printf("orgledger serving %s on %s:%u\n", args.data.c_str(), address->first.c_str(),
              static_cast<unsigned>((*server)->port()));
  std::fflush(stdout);

  std::thread signal_waiter([&] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    spdlog::info("signal {} received: stopping (the group being written finishes first)",
                 signal_number);
    (*server)->stop();
  });
  (*server)->run();
  // run() ends only after stop(); wake the waiter if something else stopped the server.
  pthread_kill(signal_waiter.native_handle(), SIGTERM);
  signal_waiter.join();
  spdlog::info("stopped; head position {}", sequencer.store().head()->position);
  return 0;
}

int run_tail(const TailArgs& args) {
  if (args.location.connect.empty()) {
    auto store = open_read_only(args.location.data);
    if (!store.is_ok()) return fail(store.status());
    Status scanned = (*store)->scan(args.from, std::numeric_limits<uint64_t>::max(),
                                    [](const StoredRecord& record) {
                                      std::puts(record_line(record).c_str());
                                      return ScanOutcome::kContinue;
                                    });
    return scanned.is_ok() ? 0 : fail(scanned);
  }
  auto client = connect(args.location);
  if (!client.is_ok()) return fail(client.status());
  if (Status subscribed = (*client)->subscribe(args.from); !subscribed.is_ok()) {
    return fail(subscribed);
  }
  for (;;) {
    auto batch = (*client)->next_records();
    if (!batch.is_ok()) return fail(batch.status());
    for (const wire::StoredRecordCopy& record : *batch) {
      std::puts(record_line(StoredRecord{record.position, record.bytes}).c_str());
    }
    std::fflush(stdout);
  }
}

}  // namespace orgledger::cli

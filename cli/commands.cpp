#include "cli/commands.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

#include "cli/common.h"
#include "cli/progress.h"
#include "engine/client.h"
#include "engine/engine.h"
#include "engine/password_hash.h"
#include "engine/wire.h"
#include "projections/event_json.h"
#include "projections/json_writer.h"
#include "projections/registry.h"
#include "projections/values.h"
#include "replay/fold.h"
#include "replay/reports.h"
#include "replay/verify.h"

namespace orgledger::cli {
namespace {

Result<std::string> read_input(const std::string& file) {
  if (file == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status(Code::kNotFound, Reason::kNone, "cannot open \"" + file + "\"");
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return Status(Code::kUnavailable, Reason::kNone, "cannot read \"" + file + "\"");
  return content.str();
}

// The event id of a line without its own: stable for the same content at the same line number,
// so appending the same file again stores nothing new.
EventIdBytes derived_event_id(size_t line_number, std::string_view line) {
  Sha256 hasher;
  hasher.add_string("orgledger.jsonl.event_id.v1");
  hasher.add_u64(line_number);
  hasher.add_string(line);
  const Hash hash = hasher.finish();
  EventIdBytes id{};
  std::copy(hash.begin(), hash.begin() + 16, id.begin());
  return id;
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

Micros wall_clock_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int run_append(const AppendArgs& args) {
  auto content = read_input(args.file);
  if (!content.is_ok()) return fail(content.status());

  // Parse every line before storing anything: one bad line and nothing is stored.
  JsonEventParser parser;
  std::vector<AppendInput> inputs;
  std::vector<size_t> line_numbers;
  std::optional<Status> first_error;
  size_t bad_lines = 0;
  std::string_view rest = *content;
  for (size_t line_number = 1; !rest.empty(); ++line_number) {
    const size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (is_blank(line)) continue;
    auto parsed = parser.parse(line);
    if (!parsed.is_ok()) {
      if (!first_error)
        first_error = parsed.status().with_context("line " + std::to_string(line_number));
      ++bad_lines;
      continue;
    }
    AppendInput input;
    if (parsed->event_id) {
      input.event_id = *parsed->event_id;
    } else if (parsed->secret) {
      // Never derived from a line holding a secret: the id would be an unsalted hash of it.
      random_bytes(input.event_id.data(), input.event_id.size());
    } else {
      input.event_id = derived_event_id(line_number, line);
    }
    if (!parsed->occurred_at_given) parsed->event.occurred_at = wall_clock_now();
    input.event = std::move(parsed->event);
    input.secret = std::move(parsed->secret);
    inputs.push_back(std::move(input));
    line_numbers.push_back(line_number);
  }
  if (first_error) {
    if (bad_lines > 1) {
      first_error = Status(first_error->code(), first_error->reason(),
                           first_error->message() + " (and " + std::to_string(bad_lines - 1) +
                               " more invalid line(s)); nothing was stored",
                           first_error->detail());
    } else {
      first_error = first_error->with_context("nothing was stored");
    }
    return fail(*first_error);
  }

  const size_t count = inputs.size();
  AppendOutcome outcome;
  std::optional<Hash> state_digest;
  if (!args.location.connect.empty()) {
    auto client = connect(args.location);
    if (!client.is_ok()) return fail(client.status());
    const std::string frame = Client::append_frame((*client)->next_request_id(), inputs);
    if (frame.size() > wire::kDefaultMaxFrameBytes) {
      return fail(invalid("the file makes a request of " + std::to_string(frame.size()) +
                          " bytes, more than a frame may hold (16 MiB); split it (each file "
                          "is appended all or nothing)"));
    }
    std::optional<uint32_t> failed_index;
    auto reply = (*client)->append(inputs, std::nullopt, &failed_index);
    if (!reply.is_ok()) {
      outcome.status = reply.status();
      outcome.failed_index = failed_index ? *failed_index : AppendOutcome::kWholeRequest;
    } else {
      outcome.positions = reply->positions;
      outcome.stored = reply->stored;
      outcome.head = reply->head;
    }
    if (outcome.status.is_ok() && args.digest) {
      auto served = (*client)->digest();
      if (!served.is_ok()) return fail(served.status());
      state_digest = served->second;
    }
  } else {
    auto engine = Engine::open(args.location.data, EngineOptions{});
    if (!engine.is_ok()) return fail(engine.status());
    outcome = (*engine)->append(std::move(inputs), local_operator());
    state_digest = digest((*engine)->registry());
  }
  if (!outcome.status.is_ok()) {
    std::string where = outcome.failed_index < line_numbers.size()
                            ? "line " + std::to_string(line_numbers[outcome.failed_index])
                            : "request";
    return fail(outcome.status.with_context(where + " (nothing was stored)"));
  }
  if (args.json) {
    for (size_t i = 0; i < count; ++i) {
      JsonWriter out;
      const bool stored = outcome.positions[i] > outcome.head.position - outcome.stored;
      out.begin_object()
          .field("line", static_cast<uint64_t>(line_numbers[i]))
          .field("position", outcome.positions[i])
          .field("result", stored ? "stored" : "already_stored")
          .end_object();
      std::puts(out.str().c_str());
    }
  } else {
    std::printf("appended %zu new event(s), %zu already stored; head position %llu hash %s\n",
                outcome.stored, count - outcome.stored,
                static_cast<unsigned long long>(outcome.head.position),
                to_hex(outcome.head.hash).c_str());
  }
  if (args.digest && state_digest) fmt::print("digest {}\n", to_hex(*state_digest));
  return 0;
}

namespace {

// Prints a view of the state: from the server with `remote(client)`, or rendered here with
// `local(registry, now)` from the embedded store as of --as-of; `now` (pending invitations,
// permissions) is the --as-of time when it is one, else the wall clock.
template <typename Remote, typename Local>
int show(const ReadArgs& args, Remote remote, Local local) {
  if (!args.location.connect.empty()) {
    auto client = connect(args.location);
    if (!client.is_ok()) return fail(client.status());
    return print(remote(**client));
  }
  auto store = open_read_only(args.location.data);
  if (!store.is_ok()) return fail(store.status());
  // At the head, a checkpoint spares replaying the whole log.
  auto registry = args.as_of.empty() ? load_state(**store) : replay_as_of(**store, args.as_of);
  if (!registry.is_ok()) return fail(registry.status());
  Micros now = wall_clock_now();
  if (auto time = parse_time(args.as_of); time.is_ok()) now = *time;
  return print(local(*registry, now));
}

}  // namespace

int run_account(const std::string& account_id, const ReadArgs& args) {
  if (!is_account_id(account_id)) {
    return fail(invalid("account id \"" + account_id + "\" must be exactly 12 digits"));
  }
  return show(
      args, [&](Client& client) { return client.get_account(account_id, args.as_of, args.json); },
      [&](const Registry& registry, Micros now) {
        return render_account(registry, account_id, args.json, now);
      });
}

int run_org(const std::string& org_id, const ReadArgs& args) {
  if (!is_org_id(org_id)) {
    return fail(invalid("organization id \"" + org_id +
                        "\" must be \"o-\" followed by 10 to 32 lower-case letters or digits"));
  }
  return show(
      args, [&](Client& client) { return client.get_organization(org_id, args.as_of, args.json); },
      [&](const Registry& registry, Micros now) {
        return render_organization(registry, org_id, args.json, now);
      });
}

int run_replay(const ReplayArgs& args) {
  auto source = open_source(args.location);
  if (!source.is_ok()) return fail(source.status());
  FoldRange range;
  if (args.to) range.to = *args.to;
  if (!args.until.empty()) {
    auto until = parse_time(args.until);
    if (!until.is_ok()) return fail(until.status().with_context("--until"));
    range.until = *until;
  }
  Registry registry;
  auto summary = fold(ProgressSource(source->get(), "replay"), range, registry);
  if (!summary.is_ok()) return fail(summary.status());
  const std::string digest_hex = to_hex(digest(registry));
  if (args.json) {
    JsonWriter out;
    out.begin_object()
        .field("records", summary->records)
        .field("last_position", summary->last_position)
        .field("accounts", static_cast<uint64_t>(registry.accounts.size()))
        .field("organizations", static_cast<uint64_t>(registry.organizations.size()))
        .field("handshakes", static_cast<uint64_t>(registry.handshakes.size()))
        .field("usage_aggregates", static_cast<uint64_t>(registry.billing.usage_entries() +
                                                         registry.billing.late.size()))
        .field("frozen_bills", static_cast<uint64_t>(registry.billing.frozen_bills.size()));
    if (args.digest) out.field("digest", digest_hex);
    out.end_object();
    std::puts(out.str().c_str());
    return 0;
  }
  fmt::print(
      "replayed {} record(s), positions 1..{}: {} account(s), {} organization(s), "
      "{} handshake(s), {} usage aggregate(s), {} frozen bill(s)\n",
      summary->records, summary->last_position, registry.accounts.size(),
      registry.organizations.size(), registry.handshakes.size(),
      registry.billing.usage_entries() + registry.billing.late.size(),
      registry.billing.frozen_bills.size());
  if (args.digest) fmt::print("digest {}\n", digest_hex);
  return 0;
}

int run_verify(const VerifyArgs& args) {
  auto source = open_source(args.location);
  if (!source.is_ok()) return fail(source.status());
  // A local store is read on every core; a server connection takes one request at a time.
  const unsigned threads = source->store ? std::max(1u, std::thread::hardware_concurrency()) : 1;
  const VerifyReport report =
      verify_chain(ProgressSource(source->get(), "verify"), args.from,
                   args.to.value_or(std::numeric_limits<uint64_t>::max()), threads);
  if (args.json) {
    JsonWriter out;
    out.begin_object()
        .field("ok", report.status.is_ok())
        .field("from", report.from)
        .field("to", report.to)
        .field("records", report.records);
    if (!report.status.is_ok()) {
      out.field("first_bad_position", report.first_bad_position)
          .field("error", report.status.to_string());
    } else {
      out.field("last_hash", to_hex(report.last_hash));
    }
    out.end_object();
    std::puts(out.str().c_str());
    return report.status.is_ok() ? 0 : 1;
  }
  if (!report.status.is_ok()) return fail(report.status);
  auto head = source->get().head();
  if (!head.is_ok()) return fail(head.status());
  if (report.records == 0) {
    fmt::print("nothing to verify: positions {}..{} hold no records (head position {})\n",
               args.from, args.to ? std::to_string(*args.to) : "head", head->position);
    return 0;
  }
  fmt::print("verified {} record(s), positions {}..{}: hash chain intact\n", report.records,
             report.from, report.to);
  fmt::print("head position {} hash {}\n", head->position, to_hex(head->hash));
  return 0;
}

}  // namespace orgledger::cli

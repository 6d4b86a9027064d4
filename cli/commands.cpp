#include "cli/commands.h"

#include <fmt/core.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cli/common.h"
#include "cli/progress.h"
#include "engine/engine.h"
#include "projections/event_json.h"
#include "projections/json_writer.h"
#include "projections/registry.h"
#include "projections/values.h"
#include "replay/fold.h"
#include "replay/verify.h"

namespace orgledger::cli {
namespace {

// Who the embedded CLI appends as, until authentication arrives with the server.
constexpr std::string_view kLocalActor = "local:cli";

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

std::string time_or_dash(Micros time) { return time == kForever ? "-" : format_time(time); }

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
    input.event_id = parsed->event_id.value_or(derived_event_id(line_number, line));
    input.event = std::move(parsed->event);
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

  auto engine = Engine::open(args.data, EngineOptions{});
  if (!engine.is_ok()) return fail(engine.status());
  const size_t count = inputs.size();
  AppendOutcome outcome = (*engine)->append(std::move(inputs), kLocalActor);
  if (!outcome.status.is_ok()) {
    std::string where = outcome.failed_index < line_numbers.size()
                            ? "line " + std::to_string(line_numbers[outcome.failed_index])
                            : "write";
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
  if (args.digest) fmt::print("digest {}\n", to_hex(digest((*engine)->registry())));
  return 0;
}

int run_account(const std::string& account_id, const ReadArgs& args) {
  if (!is_account_id(account_id)) {
    return fail(invalid("account id \"" + account_id + "\" must be exactly 12 digits"));
  }
  auto store = open_read_only(args.data);
  if (!store.is_ok()) return fail(store.status());
  auto registry = registry_as_of(**store, args.as_of);
  if (!registry.is_ok()) return fail(registry.status());
  const Account* account = registry->find_account(account_id);
  if (account == nullptr) {
    return fail(Status(Code::kNotFound, Reason::kAccountNotFound,
                       "account \"" + account_id + "\" does not exist"));
  }
  const Membership* current = account->current_membership();
  if (args.json) {
    JsonWriter out;
    out.begin_object()
        .field("account_id", account->id)
        .field("name", account->name)
        .field("email", account->email)
        .field("status", account_status_name(account->status))
        .field("created_at", format_time(account->created_at));
    out.key("closed_at");
    account->closed_at == kForever ? out.null() : out.value(format_time(account->closed_at));
    out.key("org_id");
    current ? out.value(current->org_id) : out.null();
    out.field("payer_id", current ? current->payer_id : account->id);
    out.key("memberships").begin_array();
    for (const Membership& membership : account->memberships) {
      out.begin_object()
          .field("org_id", membership.org_id)
          .field("payer_id", membership.payer_id)
          .field("joined_method", joined_method_name(membership.method))
          .field("joined_at", format_time(membership.joined_at));
      out.key("left_at");
      membership.left_at == kForever ? out.null() : out.value(format_time(membership.left_at));
      out.end_object();
    }
    out.end_array().end_object();
    std::puts(out.str().c_str());
    return 0;
  }
  fmt::print("account {}  {} <{}>\n", account->id, account->name, account->email);
  fmt::print("  status        {}{}\n", account_status_name(account->status),
             account->closed_at == kForever ? "" : " since " + format_time(account->closed_at));
  fmt::print("  created       {}\n", format_time(account->created_at));
  if (current) {
    fmt::print("  organization  {} ({}, {} since {})\n", current->org_id,
               current->payer_id == account->id ? "management account"
                                                : "member; payer " + current->payer_id,
               joined_method_name(current->method), format_time(current->joined_at));
  } else {
    fmt::print("  organization  none (standalone: pays for its own usage)\n");
  }
  if (!account->memberships.empty()) {
    fmt::print("  membership history\n");
    fmt::print("    {:<34} {:<14} {:<8} {:<21} {}\n", "ORGANIZATION", "PAYER", "METHOD", "JOINED",
               "LEFT");
    for (const Membership& membership : account->memberships) {
      fmt::print("    {:<34} {:<14} {:<8} {:<21} {}\n", membership.org_id, membership.payer_id,
                 joined_method_name(membership.method), format_time(membership.joined_at),
                 time_or_dash(membership.left_at));
    }
  }
  return 0;
}

int run_org(const std::string& org_id, const ReadArgs& args) {
  if (!is_org_id(org_id)) {
    return fail(invalid("organization id \"" + org_id +
                        "\" must be \"o-\" followed by 10 to 32 lower-case letters or digits"));
  }
  auto store = open_read_only(args.data);
  if (!store.is_ok()) return fail(store.status());
  auto registry = registry_as_of(**store, args.as_of);
  if (!registry.is_ok()) return fail(registry.status());
  const Organization* organization = registry->find_organization(org_id);
  if (organization == nullptr) {
    return fail(Status(Code::kNotFound, Reason::kAWSOrganizationsNotInUse,
                       "organization \"" + org_id + "\" does not exist"));
  }
  // Pending versus expired is shown as of now (or the --as-of time when one was given).
  Micros now = wall_clock_now();
  if (auto time = parse_time(args.as_of); time.is_ok()) now = *time;
  std::vector<const Handshake*> handshakes;
  for (const auto& [id, handshake] : registry->handshakes) {
    if (handshake.org_id == org_id) handshakes.push_back(&handshake);
  }
  const Account& management = registry->accounts.at(organization->management_account_id);

  if (args.json) {
    JsonWriter out;
    out.begin_object()
        .field("org_id", organization->id)
        .field("root_id", organization->root_id)
        .field("management_account_id", organization->management_account_id)
        .field("feature_set", fb::EnumNameFeatureSet(organization->feature_set))
        .field("max_accounts", organization->max_accounts)
        .field("created_at", format_time(organization->created_at))
        .field("deleted", organization->deleted);
    out.key("accounts").begin_array();
    for (const std::string& member_id : organization->member_ids) {
      const Account& member = registry->accounts.at(member_id);
      const Membership& membership = *member.current_membership();
      out.begin_object()
          .field("account_id", member.id)
          .field("name", member.name)
          .field("email", member.email)
          .field("status", account_status_name(member.status))
          .field("joined_method", joined_method_name(membership.method))
          .field("joined_at", format_time(membership.joined_at))
          .field("management", member.id == organization->management_account_id)
          .end_object();
    }
    out.end_array();
    out.key("handshakes").begin_array();
    for (const Handshake* handshake : handshakes) {
      out.begin_object()
          .field("handshake_id", handshake->id)
          .field("account_id", handshake->account_id)
          .field("action", fb::EnumNameHandshakeAction(handshake->action))
          .field("state", handshake_state_name(handshake->state_at(now)))
          .field("requested_at", format_time(handshake->requested_at))
          .field("expires_at", format_time(handshake->expires_at))
          .end_object();
    }
    out.end_array().end_object();
    std::puts(out.str().c_str());
    return 0;
  }

  fmt::print(
      "organization {}{}\n", organization->id,
      organization->deleted ? "  (deleted " + format_time(organization->deleted_at) + ")" : "");
  fmt::print("  root                {}\n", organization->root_id);
  fmt::print("  feature set         {}\n", fb::EnumNameFeatureSet(organization->feature_set));
  fmt::print("  management account  {} ({})\n", management.id, management.name);
  fmt::print("  created             {}\n", format_time(organization->created_at));
  fmt::print("  accounts            {} of {} in use (members plus pending invitations)\n",
             registry->quota_usage(*organization, now), organization->max_accounts);
  fmt::print("\n  {:<14} {:<24} {:<32} {:<10} {:<8} {}\n", "ACCOUNT", "NAME", "EMAIL", "STATUS",
             "METHOD", "JOINED");
  for (const std::string& member_id : organization->member_ids) {
    const Account& member = registry->accounts.at(member_id);
    const Membership& membership = *member.current_membership();
    fmt::print("  {:<14} {:<24} {:<32} {:<10} {:<8} {}{}\n", member.id, member.name, member.email,
               account_status_name(member.status), joined_method_name(membership.method),
               format_time(membership.joined_at),
               member.id == organization->management_account_id ? "  (management)" : "");
  }
  if (!handshakes.empty()) {
    fmt::print("\n  {:<20} {:<14} {:<10} {:<21} {}\n", "HANDSHAKE", "ACCOUNT", "STATE", "REQUESTED",
               "EXPIRES");
    for (const Handshake* handshake : handshakes) {
      fmt::print("  {:<20} {:<14} {:<10} {:<21} {}\n", handshake->id, handshake->account_id,
                 handshake_state_name(handshake->state_at(now)),
                 format_time(handshake->requested_at), format_time(handshake->expires_at));
    }
  }
  return 0;
}

int run_replay(const ReplayArgs& args) {
  auto store = open_read_only(args.data);
  if (!store.is_ok()) return fail(store.status());
  FoldRange range;
  if (args.to) range.to = *args.to;
  if (!args.until.empty()) {
    auto until = parse_time(args.until);
    if (!until.is_ok()) return fail(until.status().with_context("--until"));
    range.until = *until;
  }
  Registry registry;
  auto summary = fold(ProgressSource(**store, "replay"), range, registry);
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
        .field("usage_aggregates",
               static_cast<uint64_t>(registry.billing.usage.size() + registry.billing.late.size()))
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
      registry.billing.usage.size() + registry.billing.late.size(),
      registry.billing.frozen_bills.size());
  if (args.digest) fmt::print("digest {}\n", digest_hex);
  return 0;
}

int run_verify(const VerifyArgs& args) {
  auto store = open_read_only(args.data);
  if (!store.is_ok()) return fail(store.status());
  const VerifyReport report = verify_chain(ProgressSource(**store, "verify"), args.from,
                                           args.to.value_or(std::numeric_limits<uint64_t>::max()));
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
  const Head head = (*store)->head().value();
  if (report.records == 0) {
    fmt::print("nothing to verify: positions {}..{} hold no records (head position {})\n",
               args.from, args.to ? std::to_string(*args.to) : "head", head.position);
    return 0;
  }
  fmt::print("verified {} record(s), positions {}..{}: hash chain intact\n", report.records,
             report.from, report.to);
  fmt::print("head position {} hash {}\n", head.position, to_hex(head.hash));
  return 0;
}

}  // namespace orgledger::cli

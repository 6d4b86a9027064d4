#include "bench/workload.h"

#include <fmt/core.h>

#include <fstream>
#include <sstream>

#include "projections/credentials.h"
#include "projections/event_json.h"
#include "projections/sha256.h"

namespace orgledger::bench {
namespace {

// SplitMix64: a fast, well-mixed, portable hash of (seed, stream, index).
uint64_t mix(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ULL + stream * 0xbf58476d1ce4e5b9ULL + index;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string account_id(size_t organization, size_t member) {
  return fmt::format("{:06}{:06}", 100000 + organization, member);
}

std::string org_id(size_t organization) { return fmt::format("o-benchorg{:05}", organization); }

constexpr const char* kSetupDay = "2026-09-01T00:00:00Z";

}  // namespace

Result<Workload> Workload::make(const WorkloadOptions& options) {
  if (options.organizations < 1 || options.organizations > 99'999 || options.max_accounts < 1 ||
      options.max_accounts > 999'999 || options.usage_events == 0) {
    return Status(Code::kInvalidArgument, Reason::kInvalidInput,
                  "the workload needs 1 to 99,999 organizations, 1 to 999,999 accounts in the "
                  "largest and at least one usage event");
  }
  Workload workload;
  workload.options_ = options;
  std::ifstream in(options.catalogue_path);
  if (!in) {
    return Status(Code::kNotFound, Reason::kInvalidInput,
                  "cannot read the price catalogue \"" + options.catalogue_path + "\"");
  }
  std::ostringstream content;
  content << in.rdbuf();
  workload.catalogue_ = content.str();
  JsonEventParser parser;
  std::istringstream lines(workload.catalogue_);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    auto parsed = parser.parse(line);
    if (!parsed.is_ok()) return parsed.status().with_context("price catalogue");
    if (const auto* schedule = parsed->event.body.AsPriceScheduleSet()) {
      workload.usage_types_.push_back(schedule->usage_type);
    }
  }
  if (workload.usage_types_.empty()) {
    return Status(Code::kInvalidArgument, Reason::kInvalidInput,
                  "the price catalogue has no PriceScheduleSet");
  }
  // Zipf sizes: organization k (1-based) has max_accounts / k accounts, at least 2.
  for (int k = 1; k <= options.organizations; ++k) {
    BenchOrganization organization;
    organization.id = org_id(static_cast<size_t>(k));
    const int size = std::max(2, options.max_accounts / k);
    for (int m = 0; m < size; ++m) {
      organization.members.push_back(account_id(static_cast<size_t>(k), static_cast<size_t>(m)));
      workload.accounts_.push_back(organization.members.back());
    }
    organization.payer = organization.members.front();
    workload.organizations_.push_back(std::move(organization));
  }
  return workload;
}

std::string Workload::payer_totp_seed(size_t organization) const {
  std::vector<uint8_t> key(20);
  for (size_t i = 0; i < key.size(); ++i) {
    key[i] = static_cast<uint8_t>(mix(options_.seed, 7, organization * 32 + i));
  }
  return encode_base32(key);
}

std::string Workload::payer_password(size_t organization) const {
  return fmt::format("Bench-Payer-{:05}!", organization);
}

std::string Workload::setup_accounts_jsonl(int64_t now_seconds) const {
  std::string out;
  for (size_t k = 0; k < organizations_.size(); ++k) {
    const std::string& payer = organizations_[k].payer;
    out += fmt::format(
        R"({{"type":"AccountCreated","account_id":"{}","email":"a{}@bench.example","name":"Payer {}","occurred_at":"{}"}})"
        "\n",
        payer, payer, k + 1, kSetupDay);
    const std::string seed = payer_totp_seed(k);
    out += fmt::format(
        R"({{"type":"MfaEnabled","account_id":"{}","device_id":"bench","totp_seed":"{}","code":"{}"}})"
        "\n",
        payer, seed, totp_code(decode_base32(seed).value(), now_seconds));
  }
  return out;
}

std::string Workload::setup_organizations_jsonl() const {
  std::string out;
  for (size_t k = 0; k < organizations_.size(); ++k) {
    out += fmt::format(R"({{"type":"PasswordSet","account_id":"{}","password":"{}"}})"
                       "\n",
                       organizations_[k].payer, payer_password(k));
  }
  out += catalogue_;
  if (!out.empty() && out.back() != '\n') out += '\n';
  uint64_t handshake = 0;
  for (size_t k = 0; k < organizations_.size(); ++k) {
    const BenchOrganization& organization = organizations_[k];
    out += fmt::format(
        R"({{"type":"OrganizationCreated","org_id":"{}","management_account_id":"{}","occurred_at":"2026-09-01T01:00:00Z"}})"
        "\n",
        organization.id, organization.payer);
    out += fmt::format(
        R"({{"type":"AccountQuotaSet","org_id":"{}","max_accounts":{},"occurred_at":"2026-09-01T01:01:00Z"}})"
        "\n",
        organization.id, organization.members.size() + 10);
    for (size_t m = 1; m < organization.members.size(); ++m) {
      const std::string& id = organization.members[m];
      // One member in ten joins on the 15th (invited, accepted); one in twenty leaves on the
      // 20th; the rest are created in the organization.
      const uint64_t draw = mix(options_.seed, 1, k * 1'000'000 + m) % 20;
      const bool joins = draw < 2;
      out += fmt::format(
          R"({{"type":"AccountCreated","account_id":"{}","email":"a{}@bench.example","name":"Account {}"{},"occurred_at":"2026-09-02T00:00:00Z"}})"
          "\n",
          id, id, id, joins ? "" : ",\"org_id\":\"" + organization.id + "\"");
      if (joins) {
        const std::string handshake_id = fmt::format("h-bench{:010}", ++handshake);
        out += fmt::format(
            R"({{"type":"AccountInvited","handshake_id":"{}","org_id":"{}","account_id":"{}","occurred_at":"2026-10-14T00:00:00Z"}})"
            "\n",
            handshake_id, organization.id, id);
        out += fmt::format(
            R"({{"type":"HandshakeAccepted","handshake_id":"{}","occurred_at":"2026-10-15T00:00:00Z"}})"
            "\n",
            handshake_id);
      } else if (draw == 2) {
        out += fmt::format(
            R"({{"type":"AccountLeft","account_id":"{}","occurred_at":"2026-10-20T00:00:00Z"}})"
            "\n",
            id);
      }
    }
    if (k % 10 == 0) {
      out += fmt::format(
          R"({{"type":"CreditGranted","credit_id":"bench-credit-{}","account_id":"{}","amount":"100.00","occurred_at":"2026-09-30T00:00:00Z"}})"
          "\n",
          k, organization.payer);
    }
  }
  return out;
}

AppendInput Workload::usage(uint64_t index) const {
  AppendInput input;
  const uint64_t id_hash = mix(options_.seed, 2, index);
  for (int b = 0; b < 8; ++b) {
    input.event_id[b] = static_cast<uint8_t>(id_hash >> (8 * b));
    input.event_id[8 + b] = static_cast<uint8_t>(index >> (8 * (7 - b)));
  }
  // In time order: hour h of the month for index h * n / 720, a second within it.
  constexpr int64_t kHours = 31 * 24;
  const int64_t hour = static_cast<int64_t>(index * kHours / options_.usage_events);
  const Micros start = month_start(kBenchMonth);
  input.event.occurred_at =
      start + (hour * 3600 + static_cast<int64_t>(mix(options_.seed, 3, index) % 3600)) * 1'000'000;
  fb::UsageRecordedT usage;
  usage.account_id = accounts_[mix(options_.seed, 4, index) % accounts_.size()];
  usage.usage_type = usage_types_[mix(options_.seed, 5, index) % usage_types_.size()];
  usage.quantity = static_cast<int64_t>(1 + mix(options_.seed, 6, index) % 100) * 1'000'000;
  input.event.body.Set(std::move(usage));
  return input;
}

std::string Workload::usage_jsonl(uint64_t index) const {
  const AppendInput input = usage(index);
  const auto& body = *input.event.body.AsUsageRecorded();
  return fmt::format(
      R"({{"type":"UsageRecorded","event_id":"{}","account_id":"{}","usage_type":"{}","quantity":"{}","occurred_at":"{}"}})",
      to_hex(input.event_id.data(), input.event_id.size()), body.account_id, body.usage_type,
      body.quantity / 1'000'000, format_time(input.event.occurred_at));
}

}  // namespace orgledger::bench

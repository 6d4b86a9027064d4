// The benchmark workload (issue 7): a deterministic, realistic history for a seed and a scale.
// Organizations have Zipf-distributed sizes (organization k of n has about max_accounts / k
// accounts); the shared catalogue's tiered prices; a month of hourly usage spread over every
// account and usage type; mid-month joins (invited, accepted on the 15th) and leaves (on the
// 20th); credits. The same seed gives the same events, ids and bytes on every machine, except
// the MFA codes, which belong to the time they are made.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "projections/status.h"
#include "projections/values.h"

namespace orgledger::bench {

struct WorkloadOptions {
  uint64_t seed = 1;
  int organizations = 100;
  int max_accounts = 1000;  // of the largest organization
  uint64_t usage_events = 10'000'000;
  std::string catalogue_path;  // the shared price catalogue (JSON Lines)
};

struct BenchOrganization {
  std::string id;
  std::string payer;
  std::vector<std::string> members;  // the payer first; every account that ever belongs to it
};

class Workload {
 public:
  // Reads the catalogue and lays out the organizations. InvalidArgument for bad options,
  // NotFound when the catalogue cannot be read.
  static Result<Workload> make(const WorkloadOptions& options);

  const WorkloadOptions& options() const { return options_; }
  const std::vector<BenchOrganization>& organizations() const { return organizations_; }
  const std::vector<std::string>& usage_types() const { return usage_types_; }
  size_t account_count() const { return accounts_.size(); }
  // The organization with the most accounts (the query scenario's).
  const BenchOrganization& largest() const { return organizations_.front(); }

  // JSON Lines of the setup, in two parts appended one after the other: first every account
  // that will manage an organization, with its TOTP device (seed from the workload's seed, code
  // for `now_seconds`: append it within the minute); then the passwords, the organizations,
  // their accounts, joins and leaves, the price catalogue and credits.
  std::string setup_accounts_jsonl(int64_t now_seconds) const;
  std::string setup_organizations_jsonl() const;
  // The TOTP seed (base32) of an organization's payer and its password.
  std::string payer_totp_seed(size_t organization) const;
  std::string payer_password(size_t organization) const;

  // Usage event `index` (0 <= index < usage_events), in time order over the month.
  AppendInput usage(uint64_t index) const;
  std::string usage_jsonl(uint64_t index) const;

 private:
  WorkloadOptions options_;
  std::vector<BenchOrganization> organizations_;
  std::vector<std::string> accounts_;  // every account that records usage
  std::vector<std::string> usage_types_;
  std::string catalogue_;  // the catalogue's lines, as read
};

// The benchmark month and the start of it (µs).
inline constexpr Month kBenchMonth = 202610;

}  // namespace orgledger::bench

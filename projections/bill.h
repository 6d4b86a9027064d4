// The consolidated bill of one payer for one month (DOMAIN.md "Prices, usage and the
// consolidated bill"). Plain data; computed by compute_bill (billing.h). All amounts are nano-USD,
// quantities micro-units, except the invoice figures, which are cents.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "projections/values.h"

namespace orgledger {

// One account's use of one usage type.
struct BillLine {
  std::string account_id;
  std::string usage_type;
  int64_t quantity = 0;
  // S_a: the tiers applied to this account alone; exact values rounded once per usage type and
  // split by largest remainder, so the lines add up (each within a nano-dollar of its own).
  int64_t standalone_cost = 0;
  int64_t billed_cost = 0;  // B_a: its largest-remainder share of the consolidated cost
};

// One usage type across the payer's accounts.
struct UsageTypeSummary {
  std::string usage_type;
  std::string service;
  std::string unit;
  int64_t quantity = 0;           // Q
  int64_t consolidated_cost = 0;  // C: the tiers applied to Q
  int64_t standalone_cost = 0;    // sum of S_a
};

// Late usage of a closed month, billed in this month.
struct CorrectionLine {
  std::string account_id;
  std::string usage_type;
  Month origin_month = 0;
  int64_t quantity = 0;  // the late quantity of this account
  int64_t amount = 0;    // its share of C(M0 with all usage) - C(M0 as billed before)
};

// A credit applied to one account's charges.
struct CreditApplication {
  std::string credit_id;
  std::string owner_account_id;    // whose credit it is
  std::string applied_account_id;  // whose charges it reduced
  std::string description;
  int64_t amount = 0;  // positive: the reduction
};

struct MemberSummary {
  std::string account_id;
  std::string name;
  int64_t usage = 0;        // sum of billed costs
  int64_t corrections = 0;  // sum of correction amounts
  int64_t credits = 0;      // sum of credits applied to it
  int64_t total = 0;        // usage + corrections - credits
  int64_t invoice_cents = 0;
};

struct Bill {
  std::string payer_id;
  std::string payer_name;
  Month month = 0;
  bool closed = false;                        // frozen at BillingPeriodClosed
  std::vector<UsageTypeSummary> usage_types;  // by usage type
  std::vector<BillLine> lines;                // by account, then usage type
  std::vector<CorrectionLine> corrections;    // by origin month, usage type, account
  std::vector<CreditApplication> credits;     // in application order
  std::vector<MemberSummary> members;         // by account id
  int64_t usage_total = 0;                    // sum of C
  int64_t standalone_total = 0;               // sum of S_a
  int64_t savings = 0;                        // standalone_total - usage_total
  int64_t corrections_total = 0;
  int64_t credits_total = 0;
  int64_t total = 0;          // usage + corrections - credits, in nano-USD
  int64_t invoice_cents = 0;  // total rounded half to even to cents
};

}  // namespace orgledger

// Property (seeded, >= 1000 cases): for random organizations, tiered prices, usage, credits and
// late usage after a close, every bill adds up exactly, consolidation never costs more than
// standalone when tier prices do not rise, and a replayed ledger equals the served one.
// ORGLEDGER_SEED=<n> reruns a failing seed.
#include <doctest/doctest.h>

#include <cstdlib>
#include <random>

#include "projections/billing.h"
#include "projections/snapshot.h"
#include "replay/fold.h"
#include "tests/support/events.h"
#include "tests/support/memory_log.h"
#include "tests/support/seed.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

constexpr int kCases = 1000;

std::string account_id(int n) { return "1000000000" + std::to_string(10 + n); }

// Checks the invariants of one bill; returns false (with doctest failures) when one breaks.
void check_bill(const Bill& bill, bool prices_do_not_rise) {
  for (const UsageTypeSummary& type : bill.usage_types) {
    int64_t billed = 0, standalone = 0, quantity = 0;
    for (const BillLine& line : bill.lines) {
      if (line.usage_type != type.usage_type) continue;
      billed += line.billed_cost;
      standalone += line.standalone_cost;
      quantity += line.quantity;
    }
    REQUIRE(billed == type.consolidated_cost);
    REQUIRE(standalone == type.standalone_cost);
    REQUIRE(quantity == type.quantity);
    if (prices_do_not_rise) REQUIRE(type.consolidated_cost <= type.standalone_cost);
  }
  int64_t corrections = 0;
  for (const CorrectionLine& line : bill.corrections) corrections += line.amount;
  REQUIRE(corrections == bill.corrections_total);
  int64_t credits = 0;
  for (const CreditApplication& credit : bill.credits) credits += credit.amount;
  REQUIRE(credits == bill.credits_total);
  int64_t members_total = 0, members_cents = 0;
  for (const MemberSummary& member : bill.members) {
    REQUIRE(member.total >= 0);
    REQUIRE(member.total == member.usage + member.corrections - member.credits);
    members_total += member.total;
    members_cents += member.invoice_cents;
  }
  REQUIRE(members_total == bill.total);
  REQUIRE(bill.total == bill.usage_total + bill.corrections_total - bill.credits_total);
  REQUIRE(members_cents == bill.invoice_cents);
  REQUIRE(bill.invoice_cents == nano_to_cents(bill.total));
  if (prices_do_not_rise) REQUIRE(bill.savings >= 0);
}

}  // namespace

TEST_CASE(
    "property: bills add up exactly and replayed ledgers equal served ones, over 1000 "
    "random organizations") {
  const uint64_t seed = printed_seed("billing property");
  uint64_t bills_checked = 0, corrections_seen = 0, credits_seen = 0;
  for (int test_case = 0; test_case < kCases; ++test_case) {
    const uint64_t case_seed = seed + static_cast<uint64_t>(test_case);
    CAPTURE(case_seed);
    std::mt19937_64 random(case_seed);
    auto pick = [&](int64_t low, int64_t high) {
      return std::uniform_int_distribution<int64_t>(low, high)(random);
    };
    MemoryLog log;
    Micros recorded = at("2026-09-01T00:00:00Z");
    auto append = [&](const fb::EventT& event) {
      recorded = std::max(recorded + 1, event.occurred_at);
      return log.append(event, recorded);
    };
    const std::string org = "o-propertyorg1";
    const int members = static_cast<int>(pick(1, 6));
    REQUIRE(append(account_created(account_id(0), "payer@example.com", "Payer", "",
                                   "2026-09-01T00:00:00Z"))
                .is_ok());
    for (const fb::EventT& event : secure_account(account_id(0), "2026-09-01T00:00:00Z")) {
      REQUIRE(append(event).is_ok());
    }
    REQUIRE(append(organization_created(org, account_id(0), "2026-09-01T00:00:01Z")).is_ok());
    for (int m = 1; m <= members; ++m) {
      REQUIRE(append(account_created(account_id(m), "m" + std::to_string(m) + "@example.com",
                                     "Member " + std::to_string(m), org, "2026-09-01T00:00:02Z"))
                  .is_ok());
    }
    // Tiered schedules whose prices never rise from one tier to the next.
    const bool prices_do_not_rise = pick(0, 4) != 0;
    const int usage_types = static_cast<int>(pick(1, 3));
    for (int u = 0; u < usage_types; ++u) {
      std::vector<TierText> tiers;
      int64_t limit = 0;
      int64_t price = pick(1, 5'000'000);  // micro-dollars per unit
      const int count = static_cast<int>(pick(1, 4));
      for (int t = 0; t < count; ++t) {
        const bool last = t + 1 == count;
        limit += pick(1, 100'000);
        tiers.push_back(
            TierText{last ? std::nullopt : std::optional<std::string>(std::to_string(limit)),
                     format_decimal(price, 6)});
        price = prices_do_not_rise ? pick(0, price) : pick(0, 5'000'000);
      }
      REQUIRE(append(price_schedule_set("Type" + std::to_string(u), "ec2", "unit", "2026-09", tiers,
                                        "2026-09-01T00:00:03Z"))
                  .is_ok());
    }
    if (pick(0, 1) == 0)
      REQUIRE(append(credit_sharing_set(org, false, "2026-09-01T00:00:04Z")).is_ok());
    // September usage and credits; then the close; then late September and October usage.
    auto random_usage = [&](std::string_view when) {
      const std::string quantity = format_decimal(pick(1, 200'000'000'000), kQuantityScale);
      return usage_recorded(account_id(static_cast<int>(pick(0, members))),
                            "Type" + std::to_string(pick(0, usage_types - 1)), quantity, when);
    };
    const int records = static_cast<int>(pick(1, 25));
    for (int r = 0; r < records; ++r) REQUIRE(append(random_usage("2026-09-15T00:00:00Z")).is_ok());
    for (int c = static_cast<int>(pick(0, 3)); c > 0; --c) {
      const std::string id = "credit-" + std::to_string(c);
      REQUIRE(append(credit_granted(id, account_id(static_cast<int>(pick(0, members))),
                                    format_decimal(pick(1, 50'000'000'000), kAmountScale),
                                    pick(0, 1) == 0 ? std::optional<std::string_view>("2026-09")
                                                    : std::nullopt,
                                    "2026-09-16T00:00:00Z"))
                  .is_ok());
    }
    REQUIRE(append(billing_period_closed("2026-09", "2026-10-01T00:00:00Z")).is_ok());
    for (int r = static_cast<int>(pick(0, 5)); r > 0; --r) {
      REQUIRE(append(random_usage("2026-09-20T00:00:00Z")).is_ok());  // late: corrections
    }
    for (int r = static_cast<int>(pick(0, 5)); r > 0; --r) {
      REQUIRE(append(random_usage("2026-10-10T00:00:00Z")).is_ok());
    }

    for (Month month : {202609, 202610}) {
      auto bill = compute_bill(log.state(), account_id(0), month);
      REQUIRE(bill.is_ok());
      check_bill(*bill, prices_do_not_rise);
      ++bills_checked;
      corrections_seen += bill->corrections.size();
      credits_seen += bill->credits.size();
    }
    auto replayed = replay_to_position(log, std::numeric_limits<uint64_t>::max());
    REQUIRE(replayed.is_ok());
    REQUIRE(digest(*replayed) == digest(log.state()));
    REQUIRE(ledger_entries(*replayed) == ledger_entries(log.state()));
    auto restored = decode_snapshot(encode_snapshot(log.state()));
    REQUIRE(restored.is_ok());
    REQUIRE(digest(*restored) == digest(log.state()));
    REQUIRE(ledger_entries(*restored) == ledger_entries(log.state()));
  }
  MESSAGE("bills checked ", bills_checked, ", correction lines ", corrections_seen,
          ", credit applications ", credits_seen);
  CHECK(corrections_seen > 0);
  CHECK(credits_seen > 0);
}

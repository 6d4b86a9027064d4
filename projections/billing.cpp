#include "projections/billing.h"

#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <set>

#include "projections/ledger_keys.h"
#include "projections/policies.h"
#include "projections/rule_helpers.h"

namespace orgledger {
namespace {

using namespace rules;

constexpr Int128 kInt64Max = std::numeric_limits<int64_t>::max();
constexpr size_t kMaxTiers = 64;

Status invalid_schedule(std::string message) {
  return Status(Code::kInvalidArgument, Reason::kInvalidPriceSchedule, std::move(message));
}

// Which bytes a token may hold: bit 0, lower-case letters, digits and '-'; bit 1, those and
// upper-case letters and "_.:/". One lookup per byte (every usage event's type is checked).
constexpr std::array<uint8_t, 256> kTokenBytes = [] {
  std::array<uint8_t, 256> bytes{};
  for (int c = 0; c < 256; ++c) {
    const bool lower = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    const bool any =
        lower || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == ':' || c == '/';
    bytes[c] = static_cast<uint8_t>((lower ? 1 : 0) | (any ? 2 : 0));
  }
  return bytes;
}();

bool is_token(std::string_view value, size_t max_length, bool lower_only) {
  if (value.empty() || value.size() > max_length) return false;
  const uint8_t allowed = lower_only ? 1 : 2;
  for (char c : value) {
    if ((kTokenBytes[static_cast<uint8_t>(c)] & allowed) == 0) return false;
  }
  return true;
}

Micros month_end(Month month) { return month_start(next_month(month)) - 1; }

std::vector<Tier> tiers_of(const fb::PriceScheduleSet& event) {
  std::vector<Tier> tiers;
  if (event.tiers() == nullptr) return tiers;
  for (const fb::PriceTier* tier : *event.tiers()) {
    Tier value;
    if (tier->up_to()) value.up_to = *tier->up_to();
    value.unit_price = tier->unit_price();
    tiers.push_back(value);
  }
  return tiers;
}

// ---- validation -----------------------------------------------------------------------------

Status validate_price_schedule(const Registry& state, const fb::PriceScheduleSet& event) {
  if (!is_token(text(event.usage_type()), 128, false)) {
    return invalid_input("usage_type must be 1 to 128 letters, digits or -_.:/");
  }
  if (!is_token(text(event.service()), 64, true)) {
    return invalid_input("service must be 1 to 64 lower-case letters, digits or -");
  }
  if (!is_valid_name(text(event.unit()), 32))
    return invalid_input("unit must be 1 to 32 characters");
  if (!is_valid_month(event.effective_month()))
    return invalid_input("effective_month is not a month");
  if (state.billing.is_closed(event.effective_month())) {
    return Status(Code::kFailedPrecondition, Reason::kPeriodClosed,
                  "effective_month " + format_month(event.effective_month()) +
                      " is closed; prices may change only for open months");
  }
  const std::vector<Tier> tiers = tiers_of(event);
  if (tiers.empty() || tiers.size() > kMaxTiers) {
    return invalid_schedule("a schedule has 1 to " + std::to_string(kMaxTiers) + " tiers");
  }
  int64_t previous = 0;
  for (size_t i = 0; i < tiers.size(); ++i) {
    const bool last = i + 1 == tiers.size();
    if (tiers[i].unit_price < 0) return invalid_schedule("unit prices cannot be negative");
    if (last && tiers[i].up_to) {
      return invalid_schedule("the last tier must be unbounded (no up_to)");
    }
    if (!last) {
      if (!tiers[i].up_to) return invalid_schedule("only the last tier may omit up_to");
      if (*tiers[i].up_to <= previous) {
        return invalid_schedule("tier limits (up_to) must be positive and strictly increasing");
      }
      previous = *tiers[i].up_to;
    }
  }
  return Status::ok();
}

// The payer's late quantity of `usage_type` in the closed month `origin`, corrected in months
// before `before` (every late record when `before` is open-ended).
Int128 late_usage_of(const Billing& billing, const std::string& payer, Month origin,
                     std::string_view usage_type,
                     Month before = std::numeric_limits<Month>::max()) {
  Int128 total = 0;
  for (auto it = billing.late.lower_bound(CorrectionKey{payer, 0, 0, "", ""});
       it != billing.late.end() && it->first.payer_id == payer && it->first.target < before; ++it) {
    if (it->first.origin == origin && it->first.usage_type == usage_type) total += it->second;
  }
  return total;
}

int64_t on_time_usage_of(const Billing& billing, std::string_view payer, Month month,
                         std::string_view usage_type) {
  const TypeUsage* usage = billing.usage_of(payer, month, usage_type);
  return usage != nullptr ? usage->quantity : 0;
}

// On success, leaves what it looked up in `found` when that is set.
Status validate_usage(const Registry& state, const fb::UsageRecorded& event, Micros occurred_at,
                      const UsageFound& found_before, UsageLookup* found) {
  const std::string_view account_id = text(event.account_id());
  ORGLEDGER_RETURN_IF_ERROR(check_account_id(account_id));
  const std::string_view usage_type = text(event.usage_type());
  if (!is_token(usage_type, 128, false)) {
    return invalid_input("usage_type must be 1 to 128 letters, digits or -_.:/");
  }
  if (event.quantity() <= 0) return invalid_input("quantity must be greater than zero");
  if (event.resource_id() != nullptr && event.resource_id()->size() > 0 &&
      !is_valid_name(text(event.resource_id()), 256)) {
    return invalid_input("resource_id must be at most 256 characters of text");
  }
  const Account* account = found_before.account != nullptr && found_before.account->id == account_id
                               ? found_before.account
                               : state.find_account(account_id);
  if (account == nullptr) return account_not_found(account_id);
  if (occurred_at < account->created_at) {
    return Status(
        Code::kNotFound, Reason::kAccountNotFound,
        "account " + in_quotes(account_id) + " did not exist yet at " + format_time(occurred_at));
  }
  if (occurred_at >= account->closed_at) {
    return Status(Code::kFailedPrecondition, Reason::kAccountSuspended,
                  "account " + in_quotes(account_id) + " was closed on " +
                      format_time(account->closed_at) + ", before this usage occurred");
  }
  const Month month = month_of(occurred_at);
  const UsageTypes& types = state.billing.prices;
  const std::optional<uint32_t> type_number =
      found_before.usage_type && *found_before.usage_type < types.size() &&
              types.name(*found_before.usage_type) == usage_type
          ? found_before.usage_type
          : types.number(usage_type);
  const PriceSchedule* schedule =
      type_number ? state.billing.schedule_for(*type_number, month) : nullptr;
  if (schedule == nullptr) {
    return Status(Code::kFailedPrecondition, Reason::kUsageTypeNotPriced,
                  "usage type " + in_quotes(usage_type) + " has no price schedule for " +
                      format_month(month));
  }
  // Service control policies in force when it occurred (history, not today's).
  ORGLEDGER_RETURN_IF_ERROR(check_permission(state, *account, schedule->service, occurred_at));
  // The aggregates this usage joins must stay representable, and so must their cost.
  const std::string& payer = account->payer_at(occurred_at);
  const bool closed = state.billing.is_closed(month);
  const MonthUsage* month_usage = state.billing.usage_of(payer, month);
  const TypeUsage* type_usage = nullptr;
  if (month_usage != nullptr) {
    if (auto it = month_usage->types.find(*type_number); it != month_usage->types.end()) {
      type_usage = &it->second;
    }
  }
  Int128 total = Int128{event.quantity()} + (type_usage != nullptr ? type_usage->quantity : 0);
  if (closed) total += late_usage_of(state.billing, payer, month, usage_type);
  if (total > kInt64Max)
    return amount_overflow("the month's total quantity of " + in_quotes(usage_type));
  auto cost = tiered_cost(schedule->tiers, static_cast<int64_t>(total));
  if (!cost.is_ok()) return cost.status();
  if (!closed && month_usage != nullptr) {
    // The month's consolidated usage across usage types must fit as well: the other types'
    // costs as they stand, plus this type's new cost.
    const Int128 month_total =
        month_usage->cost - (type_usage != nullptr ? type_usage->cost : 0) + *cost;
    if (month_total > kInt64Max) return amount_overflow("the payer's usage for the month");
  }
  if (found != nullptr)
    *found = UsageLookup{&state, &event, account, schedule, month_usage, type_usage, *type_number};
  return Status::ok();
}

Status validate_credit(const Registry& state, const fb::CreditGranted& event, Micros occurred_at) {
  const std::string_view credit_id = text(event.credit_id());
  if (!is_token(credit_id, 64, false)) {
    return invalid_input("credit_id must be 1 to 64 letters, digits or -_.:/");
  }
  if (state.billing.credits.contains(credit_id)) {
    return Status(Code::kAlreadyExists, Reason::kDuplicateCredit,
                  "credit " + in_quotes(credit_id) + " was already granted");
  }
  const std::string_view account_id = text(event.account_id());
  ORGLEDGER_RETURN_IF_ERROR(check_account_id(account_id));
  if (state.find_account(account_id) == nullptr) return account_not_found(account_id);
  if (event.amount() <= 0) return invalid_input("a credit's amount must be greater than zero");
  if (event.description() != nullptr && event.description()->size() > 0 &&
      !is_valid_name(text(event.description()), 256)) {
    return invalid_input("description must be at most 256 characters of text");
  }
  if (event.expires_month()) {
    if (!is_valid_month(*event.expires_month()))
      return invalid_input("expires_month is not a month");
    Month first = month_of(occurred_at);
    if (state.billing.is_closed(first)) first = *state.billing.first_open_month();
    if (*event.expires_month() < first) {
      return invalid_input("the credit would expire (" + format_month(*event.expires_month()) +
                           ") before the first month it could apply to (" + format_month(first) +
                           ")");
    }
  }
  return Status::ok();
}

Status validate_sharing(const Registry& state, const fb::CreditSharingSet& event) {
  const Organization* organization = state.find_organization(text(event.org_id()));
  if (organization == nullptr || organization->deleted) {
    return organization_not_in_use(text(event.org_id()));
  }
  return Status::ok();
}

// Payers with anything to bill in `month`: usage in it, or corrections billed in it.
std::set<std::string> payers_of(const Billing& billing, Month month) {
  std::set<std::string> payers;
  for (const auto& [key, usage] : billing.usage) {
    if (key.month == month) payers.insert(key.payer_id);
  }
  for (const auto& [key, quantity] : billing.late) {
    if (key.target == month) payers.insert(key.payer_id);
  }
  return payers;
}

Status validate_close(const Registry& state, const fb::BillingPeriodClosed& event,
                      Micros occurred_at) {
  const Month month = event.month();
  if (!is_valid_month(month)) return invalid_input("month is not a month");
  const Billing& billing = state.billing;
  if (billing.is_closed(month)) {
    return Status(Code::kFailedPrecondition, Reason::kPeriodClosed,
                  format_month(month) + " is already closed");
  }
  if (billing.last_closed && month != next_month(*billing.last_closed)) {
    return Status(Code::kFailedPrecondition, Reason::kPeriodCloseOutOfOrder,
                  "months close in order: close " + format_month(next_month(*billing.last_closed)) +
                      " before " + format_month(month));
  }
  if (!billing.last_closed && billing.earliest_usage_month &&
      *billing.earliest_usage_month < month) {
    return Status(Code::kFailedPrecondition, Reason::kPeriodCloseOutOfOrder,
                  "months close in order: " + format_month(*billing.earliest_usage_month) +
                      " has usage and must close before " + format_month(month));
  }
  if (occurred_at < month_start(next_month(month))) {
    return Status(Code::kFailedPrecondition, Reason::kPeriodNotEnded,
                  format_month(month) + " has not ended: it can close from " +
                      format_time(month_start(next_month(month))) + " on");
  }
  for (const std::string& payer : payers_of(billing, month)) {
    auto bill = compute_bill(state, payer, month);
    if (!bill.is_ok()) return bill.status().with_context("the bill of " + payer);
  }
  return Status::ok();
}

// ---- the bill ---------------------------------------------------------------------------------

// Credit balances as the frozen bills leave them.
std::map<std::string, int64_t> closed_balances(const Billing& billing) {
  std::map<std::string, int64_t> balances;
  for (const auto& [id, credit] : billing.credits) balances[id] = credit.amount - credit.consumed;
  return balances;
}

bool credit_applies(const Credit& credit, Month month) {
  return credit.first_month <= month && (!credit.expires_month || month <= *credit.expires_month);
}

// Whether `payer` shares credits across its organization in `month`.
bool sharing_of(const Registry& state, const std::string& payer, Month month) {
  const Account* account = state.find_account(payer);
  if (account == nullptr) return true;
  const Membership* membership = account->membership_at(month_end(month));
  if (membership == nullptr || membership->payer_id != payer) return true;
  const Organization* organization = state.find_organization(membership->org_id);
  return organization == nullptr || organization->credit_sharing;
}

Result<int64_t> to_int64(Int128 value, std::string_view what) {
  if (value > kInt64Max || value < -kInt64Max) return amount_overflow(std::string(what));
  return static_cast<int64_t>(value);
}

// The running figures of one account with charges on a bill.
struct AccountCharges {
  std::string_view id;
  Int128 charge = 0;  // usage + corrections - credits applied so far
  Int128 usage = 0;
  Int128 corrections = 0;
  Int128 credits = 0;
  std::vector<BillLine> lines;  // in usage-type order
};

// The accounts with charges on a bill, found by id through a hash (a bill of 1,000 accounts
// and 22 usage types adds 22,000 shares). The ids are views of the state's keys.
class ChargesById {
 public:
  AccountCharges& operator[](std::string_view id) {
    auto [it, inserted] = index_.try_emplace(id, accounts_.size());
    if (inserted) {
      accounts_.emplace_back();
      accounts_.back().id = id;
    }
    return accounts_[it->second];
  }
  AccountCharges* find(std::string_view id) {
    auto it = index_.find(id);
    return it == index_.end() ? nullptr : &accounts_[it->second];
  }
  std::vector<AccountCharges>& all() { return accounts_; }
  // The accounts in id order.
  std::vector<AccountCharges*> by_id() {
    std::vector<AccountCharges*> sorted;
    sorted.reserve(accounts_.size());
    for (AccountCharges& account : accounts_) sorted.push_back(&account);
    std::sort(sorted.begin(), sorted.end(),
              [](const AccountCharges* a, const AccountCharges* b) { return a->id < b->id; });
    return sorted;
  }

 private:
  absl::flat_hash_map<std::string_view, size_t, IdHash, IdEq> index_;
  std::vector<AccountCharges> accounts_;
};

// Computes the bill of an open month, consuming credit `balances`.
Result<Bill> compute_open_bill(const Registry& state, const std::string& payer, Month month,
                               std::map<std::string, int64_t>& balances) {
  const Billing& billing = state.billing;
  Bill bill;
  bill.payer_id = payer;
  if (const Account* account = state.find_account(payer)) bill.payer_name = account->name;
  bill.month = month;

  ChargesById charges;
  Int128 usage_total = 0, standalone_total = 0, corrections_total = 0;

  // 1. Usage: per usage type, tiers applied to the organization's total, shared pro rata.
  static const MonthUsage kNoUsage;
  const MonthUsage& month_usage = [&]() -> const MonthUsage& {
    const MonthUsage* found = billing.usage_of(payer, month);
    return found != nullptr ? *found : kNoUsage;
  }();
  const std::vector<std::pair<std::string_view, uint32_t>> rows = sorted_rows(state, month_usage);
  std::vector<std::pair<std::string_view, int64_t>> accounts;
  for (const auto& [type_name, type_usage] : billing.sorted_types(month_usage)) {
    const std::string usage_type(type_name);
    accounts.clear();
    for_each_quantity(rows, *type_usage, [&](std::string_view account_id, int64_t quantity) {
      accounts.emplace_back(account_id, quantity);
    });
    const Int128 quantity = type_usage->quantity;
    const PriceSchedule* schedule = billing.schedule_for(usage_type, month);
    if (schedule == nullptr) {
      return Status(Code::kInternal, Reason::kUsageTypeNotPriced,
                    "usage type " + in_quotes(usage_type) + " lost its price schedule");
    }
    auto total_quantity = to_int64(quantity, "the total quantity of " + usage_type);
    if (!total_quantity.is_ok()) return total_quantity.status();
    auto consolidated = tiered_cost(schedule->tiers, *total_quantity);
    if (!consolidated.is_ok()) return consolidated.status();
    std::vector<int64_t> weights;
    for (const auto& [account, q] : accounts) weights.push_back(q);
    const std::vector<int64_t> shares = split_largest_remainder(*consolidated, weights);
    UsageTypeSummary summary{usage_type,      schedule->service, schedule->unit,
                             *total_quantity, *consolidated,     0};
    // Standalone costs: exact per account, rounded once for the usage type, and split back over
    // the accounts so that the lines add up (and never undercut C when prices do not rise).
    std::vector<Int128> exact_standalone;
    for (const auto& [account, q] : accounts) {
      exact_standalone.push_back(tiered_cost_exact(schedule->tiers, q));
    }
    auto standalone_parts = round_parts(exact_standalone);
    if (!standalone_parts.is_ok()) return standalone_parts.status();
    Int128 standalone_sum = 0;
    for (size_t i = 0; i < accounts.size(); ++i) {
      const int64_t standalone = (*standalone_parts)[i];
      standalone_sum += standalone;
      AccountCharges& account = charges[accounts[i].first];
      account.lines.push_back(BillLine{std::string(accounts[i].first), usage_type,
                                       accounts[i].second, standalone, shares[i]});
      account.charge += shares[i];
      account.usage += shares[i];
    }
    auto standalone = to_int64(standalone_sum, "the standalone cost of " + usage_type);
    if (!standalone.is_ok()) return standalone.status();
    summary.standalone_cost = *standalone;
    usage_total += *consolidated;
    standalone_total += standalone_sum;
    bill.usage_types.push_back(std::move(summary));
  }
  // The lines by account, then usage type: each account's lines are in usage-type order.
  const std::vector<AccountCharges*> with_usage = charges.by_id();
  size_t line_count = 0;
  for (const AccountCharges* account : with_usage) line_count += account->lines.size();
  bill.lines.reserve(line_count);
  for (AccountCharges* account : with_usage) {
    std::move(account->lines.begin(), account->lines.end(), std::back_inserter(bill.lines));
  }

  // 2. Corrections: late usage of closed months, priced as that month would have been.
  std::map<std::pair<Month, std::string_view>, std::vector<std::pair<std::string_view, int64_t>>>
      late_groups;
  for (auto late = billing.late.lower_bound(CorrectionKey{payer, month, 0, "", ""});
       late != billing.late.end() && late->first.payer_id == payer && late->first.target == month;
       ++late) {
    late_groups[{late->first.origin, late->first.usage_type}].emplace_back(late->first.account_id,
                                                                           late->second);
  }
  for (const auto& [group, accounts] : late_groups) {
    const auto& [origin, usage_type] = group;
    // Billed before: on time plus late records corrected in earlier months.
    const Int128 base = on_time_usage_of(billing, payer, origin, usage_type) +
                        late_usage_of(billing, payer, origin, usage_type, month);
    Int128 late_quantity = 0;
    std::vector<int64_t> weights;
    for (const auto& [account, q] : accounts) {
      late_quantity += q;
      weights.push_back(q);
    }
    const PriceSchedule* schedule = billing.schedule_for(usage_type, origin);
    if (schedule == nullptr) {
      return Status(Code::kInternal, Reason::kUsageTypeNotPriced,
                    "usage type " + in_quotes(usage_type) + " lost its price schedule");
    }
    auto before_quantity = to_int64(base, "a corrected quantity");
    auto after_quantity = to_int64(base + late_quantity, "a corrected quantity");
    if (!before_quantity.is_ok()) return before_quantity.status();
    if (!after_quantity.is_ok()) return after_quantity.status();
    auto before = tiered_cost(schedule->tiers, *before_quantity);
    auto after = tiered_cost(schedule->tiers, *after_quantity);
    if (!before.is_ok()) return before.status();
    if (!after.is_ok()) return after.status();
    const std::vector<int64_t> shares = split_largest_remainder(*after - *before, weights);
    for (size_t i = 0; i < accounts.size(); ++i) {
      bill.corrections.push_back(CorrectionLine{std::string(accounts[i].first),
                                                std::string(usage_type), origin, accounts[i].second,
                                                shares[i]});
      AccountCharges& account = charges[accounts[i].first];
      account.charge += shares[i];
      account.corrections += shares[i];
    }
    corrections_total += *after - *before;
  }

  // 3. Credits: soonest-expiring first, then oldest grant; own account first, then (sharing on)
  //    the others by descending remaining charge, ties to the lower account id.
  std::vector<const Credit*> credits;
  for (const auto& [id, credit] : billing.credits) {
    if (balances[id] > 0 && credit_applies(credit, month) &&
        state.payer_at(credit.account_id, month_end(month)) == payer) {
      credits.push_back(&credit);
    }
  }
  std::sort(credits.begin(), credits.end(), [](const Credit* a, const Credit* b) {
    const Month a_expiry = a->expires_month.value_or(std::numeric_limits<Month>::max());
    const Month b_expiry = b->expires_month.value_or(std::numeric_limits<Month>::max());
    return std::tie(a_expiry, a->granted_at, a->granted_position, a->id) <
           std::tie(b_expiry, b->granted_at, b->granted_position, b->id);
  });
  const bool sharing = sharing_of(state, payer, month);
  Int128 credits_total = 0;
  for (const Credit* credit : credits) {
    int64_t& balance = balances[credit->id];
    auto apply_to = [&](AccountCharges* account) {
      if (account == nullptr || account->charge <= 0 || balance <= 0) return;
      const int64_t amount = static_cast<int64_t>(std::min<Int128>(account->charge, balance));
      account->charge -= amount;
      balance -= amount;
      account->credits += amount;
      credits_total += amount;
      bill.credits.push_back(CreditApplication{
          credit->id, credit->account_id, std::string(account->id), credit->description, amount});
    };
    apply_to(charges.find(credit->account_id));
    if (!sharing) continue;
    std::vector<AccountCharges*> others;
    for (AccountCharges& account : charges.all()) {
      if (account.id != credit->account_id && account.charge > 0) others.push_back(&account);
    }
    std::sort(others.begin(), others.end(), [](const AccountCharges* a, const AccountCharges* b) {
      return a->charge != b->charge ? a->charge > b->charge : a->id < b->id;
    });
    for (AccountCharges* account : others) apply_to(account);
  }

  // 4. Members and totals; the invoice in cents, split so the members add up to it exactly.
  Int128 total = 0;
  for (const AccountCharges* charged : charges.by_id()) {
    MemberSummary member;
    member.account_id = std::string(charged->id);
    if (const Account* account = state.find_account(charged->id)) member.name = account->name;
    member.usage = static_cast<int64_t>(charged->usage);
    member.corrections = static_cast<int64_t>(charged->corrections);
    member.credits = static_cast<int64_t>(charged->credits);
    member.total = static_cast<int64_t>(charged->charge);
    total += charged->charge;
    bill.members.push_back(std::move(member));
  }
  auto checked_total = to_int64(total, "the bill total");
  auto checked_usage = to_int64(usage_total, "the bill's usage");
  auto checked_standalone = to_int64(standalone_total, "the bill's standalone cost");
  auto checked_corrections = to_int64(corrections_total, "the bill's corrections");
  for (const auto* checked :
       {&checked_total, &checked_usage, &checked_standalone, &checked_corrections}) {
    if (!checked->is_ok()) return checked->status();
  }
  bill.usage_total = *checked_usage;
  bill.standalone_total = *checked_standalone;
  bill.savings = *checked_standalone - *checked_usage;
  bill.corrections_total = *checked_corrections;
  bill.credits_total = static_cast<int64_t>(credits_total);
  bill.total = *checked_total;
  bill.invoice_cents = nano_to_cents(bill.total);
  std::vector<int64_t> weights;
  for (const MemberSummary& member : bill.members) weights.push_back(member.total);
  const std::vector<int64_t> cents = split_largest_remainder(bill.invoice_cents, weights);
  for (size_t i = 0; i < bill.members.size(); ++i) bill.members[i].invoice_cents = cents[i];
  return bill;
}

// Credit balances at the start of `month`: the frozen ones, less what the bills of the open
// months before `month` consume.
Result<std::map<std::string, int64_t>> balances_before(const Registry& state, Month month) {
  const Billing& billing = state.billing;
  std::map<std::string, int64_t> balances = closed_balances(billing);
  // The first open month; with nothing closed yet, the first month any credit applies to.
  std::optional<Month> start = billing.first_open_month();
  if (!start) {
    for (const auto& [id, credit] : billing.credits) {
      start = std::min(start.value_or(credit.first_month), credit.first_month);
    }
  }
  if (!start) return balances;
  for (Month open = *start; open < month; open = next_month(open)) {
    // Each credit reduces the bill of its account's payer at the end of the month; credits of
    // different payers are disjoint, so the order of the payers does not matter.
    std::set<std::string> payers;
    for (const auto& [id, credit] : billing.credits) {
      if (balances[id] > 0 && credit_applies(credit, open)) {
        payers.emplace(state.payer_at(credit.account_id, month_end(open)));
      }
    }
    for (const std::string& payer : payers) {
      auto bill = compute_open_bill(state, payer, open, balances);
      if (!bill.is_ok()) return bill.status();
    }
  }
  return balances;
}

void write_amount(JsonWriter& out, std::string_view key, int64_t nano) {
  out.field(key, format_decimal(nano, kAmountScale));
}

void write_cents(JsonWriter& out, std::string_view key, int64_t cents) {
  std::string text = format_decimal(cents, 2);
  if (text.find('.') == std::string::npos) text += ".00";
  if (text.size() - text.find('.') == 2) text += '0';
  out.field(key, text);
}

// `entries`, (name, value) pairs, in name order: how the aggregates kept in hash tables by number
// are walked wherever order reaches an output.
template <typename T>
std::vector<std::pair<std::string_view, T>> by_name(
    std::vector<std::pair<std::string_view, T>> entries) {
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return entries;
}

}  // namespace

uint32_t UsageTypes::add(std::string_view name) {
  if (const std::optional<uint32_t> known = number(name)) return *known;
  const auto added = static_cast<uint32_t>(names_.size());
  names_.emplace_back(name);
  schedules_.emplace_back();
  numbers_.emplace(std::string(name), added);
  return added;
}

std::vector<std::pair<std::string_view, const UsageTypes::Schedules*>> UsageTypes::in_order()
    const {
  std::vector<std::pair<std::string_view, const Schedules*>> types;
  types.reserve(names_.size());
  for (size_t number = 0; number < names_.size(); ++number) {
    types.emplace_back(names_[number], &schedules_[number]);
  }
  return by_name(std::move(types));
}

const PriceSchedule* Billing::schedule_for(std::string_view usage_type, Month month) const {
  const std::optional<uint32_t> number = prices.number(usage_type);
  return number ? schedule_for(*number, month) : nullptr;
}

const PriceSchedule* Billing::schedule_for(uint32_t usage_type, Month month) const {
  const UsageTypes::Schedules& schedules = prices.schedules(usage_type);
  auto it = schedules.upper_bound(month);
  if (it == schedules.begin()) return nullptr;
  return &std::prev(it)->second;
}

std::vector<std::pair<std::string_view, const TypeUsage*>> Billing::sorted_types(
    const MonthUsage& month_usage) const {
  std::vector<std::pair<std::string_view, const TypeUsage*>> types;
  types.reserve(month_usage.types.size());
  for (const auto& [number, type_usage] : month_usage.types) {
    types.emplace_back(prices.name(number), &type_usage);
  }
  return by_name(std::move(types));
}

const MonthUsage* Billing::usage_of(std::string_view payer_id, Month month) const {
  auto it = usage.find(PayerMonthView{payer_id, month});
  return it == usage.end() ? nullptr : &it->second;
}

const TypeUsage* Billing::usage_of(std::string_view payer_id, Month month,
                                   std::string_view usage_type) const {
  const MonthUsage* month_usage = usage_of(payer_id, month);
  if (month_usage == nullptr) return nullptr;
  const std::optional<uint32_t> number = prices.number(usage_type);
  if (!number) return nullptr;
  auto it = month_usage->types.find(*number);
  return it == month_usage->types.end() ? nullptr : &it->second;
}

int64_t TypeUsage::add(uint32_t row, int64_t quantity) {
  if (row >= by_row.size()) by_row.resize(row + 1);
  int64_t& aggregate = by_row[row];
  const bool was_empty = aggregate == 0;
  aggregate += quantity;
  this->quantity += quantity;
  if (was_empty && aggregate != 0) ++entries;
  if (!was_empty && aggregate == 0) --entries;
  return aggregate;
}

uint32_t MonthUsage::row_of(uint32_t account_index) {
  const auto [it, added] = rows.try_emplace(account_index, row_accounts.size());
  if (added) row_accounts.push_back(account_index);
  return it->second;
}

std::vector<std::pair<std::string_view, uint32_t>> sorted_rows(const Registry& state,
                                                               const MonthUsage& month_usage) {
  std::vector<std::pair<std::string_view, uint32_t>> sorted;
  sorted.reserve(month_usage.row_accounts.size());
  for (uint32_t row = 0; row < month_usage.row_accounts.size(); ++row) {
    sorted.emplace_back(state.account_ids[month_usage.row_accounts[row]], row);
  }
  return by_name(std::move(sorted));
}

size_t Billing::usage_entries() const {
  size_t entries = 0;
  for (const auto& [key, month_usage] : usage) {
    for (const auto& [number, type_usage] : month_usage.types) entries += type_usage.entries;
  }
  return entries;
}

void Billing::reprice(TypeUsage& type_usage, MonthUsage& month_usage,
                      const PriceSchedule& schedule) {
  const Int128 cost = tiered_cost_nano(schedule.tiers, type_usage.quantity);
  month_usage.cost += cost - type_usage.cost;
  type_usage.cost = cost;
}

Status validate_billing_event(const Registry& state, const fb::Event& event,
                              const EventContext& context) {
  switch (event.body_type()) {
    case fb::EventBody::PriceScheduleSet:
      return validate_price_schedule(state, *event.body_as_PriceScheduleSet());
    case fb::EventBody::UsageRecorded:
      return validate_usage(state, *event.body_as_UsageRecorded(), event.occurred_at(),
                            context.usage_ahead, context.usage_lookup);
    case fb::EventBody::CreditGranted:
      return validate_credit(state, *event.body_as_CreditGranted(), event.occurred_at());
    case fb::EventBody::CreditSharingSet:
      return validate_sharing(state, *event.body_as_CreditSharingSet());
    case fb::EventBody::BillingPeriodClosed:
      return validate_close(state, *event.body_as_BillingPeriodClosed(), event.occurred_at());
    default:
      return Status(Code::kInternal, Reason::kNone, "not a billing event");
  }
}

namespace {

// Adds `quantity` (> 0) to the aggregate of `account` in the usage of `payer` in the open
// `month`, creating what is missing and keeping the totals and their costs in step. `found`, when
// set, is what validating this event looked up in this same billing. Returns the aggregate's new
// quantity.
int64_t add_usage(Billing& billing, std::string_view payer, Month month, uint32_t usage_type,
                  const Account& account, int64_t quantity, const UsageLookup* found) {
  // The lookup was made in this state, which the caller may change: its parts are ours to change.
  MonthUsage* month_usage = found ? const_cast<MonthUsage*>(found->month_usage) : nullptr;
  if (month_usage == nullptr) {
    auto it = billing.usage.find(PayerMonthView{payer, month});
    if (it == billing.usage.end()) {
      it = billing.usage.emplace(PayerMonth{std::string(payer), month}, MonthUsage{}).first;
    }
    month_usage = &it->second;
  }
  TypeUsage* type_usage = found ? const_cast<TypeUsage*>(found->type_usage) : nullptr;
  if (type_usage == nullptr) type_usage = &month_usage->types[usage_type];
  const int64_t aggregate = type_usage->add(month_usage->row_of(account.index), quantity);
  // validate found a schedule for this usage type and month, and prices never go away.
  billing.reprice(*type_usage, *month_usage,
                  found ? *found->schedule : *billing.schedule_for(usage_type, month));
  return aggregate;
}

// Takes back `quantity` that add_usage added; an aggregate, usage type or month left with
// nothing is removed.
void take_back_usage(Billing& billing, std::string_view payer, Month month, uint32_t usage_type,
                     const Account& account, int64_t quantity) {
  auto month_it = billing.usage.find(PayerMonthView{payer, month});
  if (month_it == billing.usage.end()) return;  // never: it holds the usage being taken back
  MonthUsage& month_usage = month_it->second;
  auto type_it = month_usage.types.find(usage_type);
  if (type_it == month_usage.types.end()) return;
  TypeUsage& type_usage = type_it->second;
  const std::optional<uint32_t> row = month_usage.find_row(account.index);
  if (!row || type_usage.quantity_of(*row) < quantity) return;
  type_usage.add(*row, -quantity);
  billing.reprice(type_usage, month_usage, *billing.schedule_for(usage_type, month));
  if (type_usage.entries == 0) {
    month_usage.cost -= type_usage.cost;
    month_usage.types.erase(type_it);
  }
  if (month_usage.types.empty()) billing.usage.erase(month_it);
}

// Subtracts `quantity` from `map[key]`, removing the entry when nothing is left (it was created
// by the usage being undone: quantities are positive).
template <typename Map, typename Key>
void subtract(Map& map, const Key& key, int64_t quantity) {
  auto it = map.find(key);
  if (it == map.end()) return;
  it->second -= quantity;
  if (it->second == 0) map.erase(it);
}

// The correction a late usage event of a closed month lands in.
CorrectionKey correction_of(const Billing& billing, std::string_view payer, Month origin,
                            std::string_view usage_type, std::string_view account_id) {
  return CorrectionKey{std::string(payer), *billing.first_open_month(), origin,
                       std::string(usage_type), std::string(account_id)};
}

}  // namespace

void unapply_usage(Registry& state, const fb::Event& event, Micros prior_last_usage_at) {
  const auto& body = *event.body_as_UsageRecorded();
  const Micros at = event.occurred_at();
  const std::string_view account_id = text(body.account_id());
  const std::string_view usage_type = text(body.usage_type());
  Account& account = state.accounts.find(account_id)->second;
  account.last_usage_at = prior_last_usage_at;
  const std::string& payer = account.payer_at(at);
  const Month month = month_of(at);
  if (state.billing.is_closed(month)) {
    subtract(state.billing.late, correction_of(state.billing, payer, month, usage_type, account_id),
             body.quantity());
  } else {
    // Usage that was applied has a priced type.
    take_back_usage(state.billing, payer, month, *state.billing.prices.number(usage_type), account,
                    body.quantity());
  }
}

UsagePrefetch::UsagePrefetch(const Registry& state, std::vector<UsageAhead> usage)
    : state_(state),
      usage_(std::move(usage)),
      hashes_(usage_.size()),
      candidates_(usage_.size(), state.accounts.end()),
      found_by_event_(usage_.size()) {}

UsageFound UsagePrefetch::found(size_t i) {
  const size_t n = usage_.size();
  while (slots_ < std::min(n, i + 3 * kDistance + 1)) find_slot(slots_++);
  while (candidates_found_ < std::min(n, i + 2 * kDistance + 1))
    find_candidate(candidates_found_++);
  while (accounts_found_ < std::min(n, i + kDistance + 1)) find_account(accounts_found_++);
  // The last stage runs on the event itself: its usage type and aggregate are read right after.
  while (aggregates_ < std::min(n, i + 1)) find_aggregate(aggregates_++);
  return i < n ? found_by_event_[i] : UsageFound{};
}

void UsagePrefetch::find_slot(size_t i) {
  if (usage_[i].account_id.empty()) return;
  hashes_[i] = state_.accounts.hash(usage_[i].account_id);
  state_.accounts.prefetch(hashes_[i]);
}

void UsagePrefetch::find_candidate(size_t i) {
  if (usage_[i].account_id.empty()) return;
  const AccountEntry candidate = candidates_[i] = state_.accounts.candidate(hashes_[i]);
  if (candidate == state_.accounts.end()) return;
  // The key, then the account's own id (validate compares it), created_at and closed_at.
  __builtin_prefetch(&candidate->first);
  __builtin_prefetch(&candidate->second.id);
  __builtin_prefetch(&candidate->second.created_at);
}

void UsagePrefetch::find_account(size_t i) {
  if (usage_[i].account_id.empty()) return;
  const AccountEntry entry =
      state_.accounts.find_hashed(usage_[i].account_id, hashes_[i], candidates_[i]);
  if (entry == state_.accounts.end()) return;
  const Account* account = found_by_event_[i].account = &entry->second;
  __builtin_prefetch(&account->last_usage_at);
  if (!account->memberships.empty()) __builtin_prefetch(&account->memberships.back());
}

void UsagePrefetch::find_aggregate(size_t i) {
  const Account* account = found_by_event_[i].account;
  if (account == nullptr) return;
  const std::optional<uint32_t> type = found_by_event_[i].usage_type =
      state_.billing.prices.number(usage_[i].usage_type);
  const Micros at = usage_[i].occurred_at;
  const Membership* membership = account->membership_at(at);
  if (membership != nullptr) __builtin_prefetch(membership->parents.data());
  const MonthUsage* month_usage = state_.billing.usage_of(
      membership != nullptr ? membership->payer_id : account->id, month_of(at));
  if (month_usage == nullptr || !type) return;
  const std::optional<uint32_t> row = month_usage->find_row(account->index);
  if (!row) return;
  if (auto it = month_usage->types.find(*type); it != month_usage->types.end()) {
    const TypeUsage& type_usage = it->second;
    if (*row < type_usage.by_row.size()) __builtin_prefetch(&type_usage.by_row[*row]);
  }
}

void apply_billing_event(Registry& state, const fb::Event& event, const EventContext& context) {
  Billing& billing = state.billing;
  const Micros at = event.occurred_at();
  switch (event.body_type()) {
    case fb::EventBody::PriceScheduleSet: {
      const auto& body = *event.body_as_PriceScheduleSet();
      PriceSchedule schedule{std::string(text(body.usage_type())),
                             std::string(text(body.service())), std::string(text(body.unit())),
                             body.effective_month(), tiers_of(body)};
      const Month effective = schedule.effective_month;
      const uint32_t usage_type = billing.prices.add(schedule.usage_type);
      billing.prices.schedules(usage_type)[effective] = std::move(schedule);
      // The months it prices are open (validate_price_schedule): their costs follow it.
      for (auto& [key, month_usage] : billing.usage) {
        if (key.month < effective) continue;
        auto type_usage = month_usage.types.find(usage_type);
        if (type_usage == month_usage.types.end()) continue;
        billing.reprice(type_usage->second, month_usage,
                        *billing.schedule_for(usage_type, key.month));
      }
      break;
    }
    case fb::EventBody::UsageRecorded: {
      const auto& body = *event.body_as_UsageRecorded();
      const std::string_view account_id = text(body.account_id());
      const std::string_view usage_type = text(body.usage_type());
      // What validate looked up for this very event in this very state, if it was asked to.
      const UsageLookup* found = context.usage_lookup;
      if (found != nullptr && (found->state != &state || found->event != &body)) found = nullptr;
      Account& account = found != nullptr ? const_cast<Account&>(*found->account)
                                          : state.accounts.find(account_id)->second;
      account.last_usage_at = std::max(account.last_usage_at, at);
      const std::string& payer = account.payer_at(at);
      const Month month = month_of(at);
      if (billing.is_closed(month)) {
        CorrectionKey key = correction_of(billing, payer, month, usage_type, account_id);
        const int64_t quantity = billing.late[key] += body.quantity();
        if (context.ledger_writes) {
          context.ledger_writes->emplace_back(ledger_keys::correction_key(key),
                                              ledger_keys::encode_quantity(quantity));
        }
      } else {
        // validate found its type priced, and prices never go away.
        const uint32_t type_number =
            found != nullptr ? found->usage_type : *billing.prices.number(usage_type);
        const int64_t quantity =
            add_usage(billing, payer, month, type_number, account, body.quantity(), found);
        billing.earliest_usage_month =
            std::min(billing.earliest_usage_month.value_or(month), month);
        if (context.ledger_writes) {
          context.ledger_writes->emplace_back(
              ledger_keys::usage_key(payer, month, usage_type, account_id),
              ledger_keys::encode_quantity(quantity));
        }
      }
      break;
    }
    case fb::EventBody::CreditGranted: {
      const auto& body = *event.body_as_CreditGranted();
      Credit credit;
      credit.id = std::string(text(body.credit_id()));
      credit.account_id = std::string(text(body.account_id()));
      credit.description = std::string(text(body.description()));
      credit.amount = body.amount();
      credit.first_month = month_of(at);
      if (billing.is_closed(credit.first_month)) credit.first_month = *billing.first_open_month();
      if (body.expires_month()) credit.expires_month = *body.expires_month();
      credit.granted_at = at;
      credit.granted_position = context.position;
      billing.credits.emplace(credit.id, std::move(credit));
      break;
    }
    case fb::EventBody::CreditSharingSet: {
      const auto& body = *event.body_as_CreditSharingSet();
      state.organizations.find(text(body.org_id()))->second.credit_sharing = body.enabled();
      break;
    }
    case fb::EventBody::BillingPeriodClosed: {
      const Month month = event.body_as_BillingPeriodClosed()->month();
      auto balances = balances_before(state, month);
      for (const std::string& payer : payers_of(billing, month)) {
        // validate computed these same bills, so they cannot fail here.
        auto bill = compute_open_bill(state, payer, month, *balances);
        bill->closed = true;
        for (const CreditApplication& applied : bill->credits) {
          billing.credits.find(applied.credit_id)->second.consumed += applied.amount;
        }
        if (context.ledger_writes) {
          context.ledger_writes->emplace_back(ledger_keys::frozen_bill_key(payer, month),
                                              bill_to_json(*bill));
        }
        billing.frozen_bills.emplace(std::make_pair(payer, month), std::move(*bill));
      }
      billing.last_closed = month;
      break;
    }
    default:
      break;
  }
}

Result<Bill> compute_bill(const Registry& state, std::string_view payer_id, Month month) {
  const Billing& billing = state.billing;
  if (billing.is_closed(month)) {
    auto frozen = billing.frozen_bills.find({std::string(payer_id), month});
    if (frozen != billing.frozen_bills.end()) return frozen->second;
    Bill empty;
    empty.payer_id = std::string(payer_id);
    if (const Account* account = state.find_account(payer_id)) empty.payer_name = account->name;
    empty.month = month;
    empty.closed = true;
    return empty;
  }
  auto balances = balances_before(state, month);
  if (!balances.is_ok()) return balances.status();
  return compute_open_bill(state, std::string(payer_id), month, *balances);
}

Bill charges_of(const Bill& bill, std::string_view account_id) {
  Bill charges;
  charges.payer_id = bill.payer_id;
  charges.payer_name = bill.payer_name;
  charges.month = bill.month;
  charges.closed = bill.closed;
  for (const BillLine& line : bill.lines) {
    if (line.account_id != account_id) continue;
    charges.lines.push_back(line);
    charges.standalone_total += line.standalone_cost;
  }
  for (const CorrectionLine& line : bill.corrections) {
    if (line.account_id == account_id) charges.corrections.push_back(line);
  }
  for (const CreditApplication& credit : bill.credits) {
    if (credit.applied_account_id == account_id) charges.credits.push_back(credit);
  }
  for (const MemberSummary& member : bill.members) {
    if (member.account_id != account_id) continue;
    charges.members.push_back(member);
    charges.usage_total = member.usage;
    charges.corrections_total = member.corrections;
    charges.credits_total = member.credits;
    charges.total = member.total;
    charges.invoice_cents = member.invoice_cents;
  }
  charges.savings = charges.standalone_total - charges.usage_total;
  return charges;
}

std::string bill_to_json(const Bill& bill, bool with_lines) {
  JsonWriter out;
  // About what each entry takes, so that the text is not copied as it grows.
  out.reserve(512 + 160 * (bill.usage_types.size() + (with_lines ? bill.lines.size() : 0) +
                           bill.corrections.size() + bill.credits.size() + bill.members.size()));
  out.begin_object()
      .field("payer_id", bill.payer_id)
      .field("payer_name", bill.payer_name)
      .field("month", format_month(bill.month))
      .field("closed", bill.closed)
      .field("currency", "USD");
  out.key("usage_types").begin_array();
  for (const UsageTypeSummary& type : bill.usage_types) {
    out.begin_object()
        .field("usage_type", type.usage_type)
        .field("service", type.service)
        .field("unit", type.unit)
        .field("quantity", format_decimal(type.quantity, kQuantityScale));
    write_amount(out, "consolidated_cost", type.consolidated_cost);
    write_amount(out, "standalone_cost", type.standalone_cost);
    out.end_object();
  }
  out.end_array();
  if (with_lines) {
    out.key("lines").begin_array();
    for (const BillLine& line : bill.lines) {
      out.begin_object()
          .field("account_id", line.account_id)
          .field("usage_type", line.usage_type)
          .field("quantity", format_decimal(line.quantity, kQuantityScale));
      write_amount(out, "standalone_cost", line.standalone_cost);
      write_amount(out, "billed_cost", line.billed_cost);
      out.end_object();
    }
    out.end_array();
  }
  out.key("corrections").begin_array();
  for (const CorrectionLine& line : bill.corrections) {
    out.begin_object()
        .field("account_id", line.account_id)
        .field("usage_type", line.usage_type)
        .field("origin_month", format_month(line.origin_month))
        .field("quantity", format_decimal(line.quantity, kQuantityScale));
    write_amount(out, "amount", line.amount);
    out.end_object();
  }
  out.end_array().key("credits").begin_array();
  for (const CreditApplication& credit : bill.credits) {
    out.begin_object()
        .field("credit_id", credit.credit_id)
        .field("owner_account_id", credit.owner_account_id)
        .field("applied_account_id", credit.applied_account_id)
        .field("description", credit.description);
    write_amount(out, "amount", credit.amount);
    out.end_object();
  }
  out.end_array().key("members").begin_array();
  for (const MemberSummary& member : bill.members) {
    out.begin_object().field("account_id", member.account_id).field("name", member.name);
    write_amount(out, "usage", member.usage);
    write_amount(out, "corrections", member.corrections);
    write_amount(out, "credits", member.credits);
    write_amount(out, "total", member.total);
    write_cents(out, "invoice_amount", member.invoice_cents);
    out.end_object();
  }
  out.end_array();
  write_amount(out, "usage_total", bill.usage_total);
  write_amount(out, "standalone_total", bill.standalone_total);
  write_amount(out, "savings", bill.savings);
  write_amount(out, "corrections_total", bill.corrections_total);
  write_amount(out, "credits_total", bill.credits_total);
  write_amount(out, "total", bill.total);
  write_cents(out, "invoice_amount", bill.invoice_cents);
  out.end_object();
  return out.str();
}

LedgerWrites ledger_entries(const Registry& state) {
  LedgerWrites entries;
  const Billing& billing = state.billing;
  for (const auto& [key, month_usage] : billing.usage) {
    const auto rows = sorted_rows(state, month_usage);
    for (const auto& [usage_type, type_usage] : billing.sorted_types(month_usage)) {
      // Structured bindings are captured by init-capture (C++20 clang refuses them otherwise).
      auto add = [&entries, &payer_month = key, type_name = usage_type](std::string_view account_id,
                                                                        int64_t quantity) {
        entries.emplace_back(
            ledger_keys::usage_key(payer_month.payer_id, payer_month.month, type_name, account_id),
            ledger_keys::encode_quantity(quantity));
      };
      for_each_quantity(rows, *type_usage, add);
    }
  }
  for (const auto& [key, quantity] : billing.late) {
    entries.emplace_back(ledger_keys::correction_key(key), ledger_keys::encode_quantity(quantity));
  }
  for (const auto& [key, bill] : billing.frozen_bills) {
    entries.emplace_back(ledger_keys::frozen_bill_key(key.first, key.second), bill_to_json(bill));
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

std::string format_cents(int64_t cents) {
  const bool negative = cents < 0;
  const uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(cents) : cents;
  std::string whole = std::to_string(magnitude / 100);
  for (int i = static_cast<int>(whole.size()) - 3; i > 0; i -= 3) whole.insert(i, ",");
  const uint64_t fraction = magnitude % 100;
  return (negative ? "-" : "") + whole + "." + (fraction < 10 ? "0" : "") +
         std::to_string(fraction);
}

}  // namespace orgledger

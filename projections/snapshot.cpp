#include "projections/snapshot.h"

#include <cstring>
#include <limits>

#include "projections/policies.h"

namespace orgledger {
namespace {

// Fixed-width little-endian integers and length-prefixed strings.
class Writer {
 public:
  void u8(uint8_t value) { out_ += static_cast<char>(value); }
  void u64(uint64_t value) {
    for (int shift = 0; shift < 64; shift += 8) out_ += static_cast<char>((value >> shift) & 0xff);
  }
  void i64(int64_t value) { u64(static_cast<uint64_t>(value)); }
  void boolean(bool value) { u8(value ? 1 : 0); }
  void str(std::string_view text) {
    u64(text.size());
    out_.append(text.data(), text.size());
  }
  void optional_i64(const std::optional<int64_t>& value) {
    boolean(value.has_value());
    i64(value.value_or(0));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  void fail() { ok_ = false; }
  bool at_end() const { return at_ == bytes_.size(); }

  uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<uint8_t>(bytes_[at_++]);
  }
  uint64_t u64() {
    if (!need(8)) return 0;
    uint64_t value = 0;
    for (int i = 7; i >= 0; --i) value = value << 8 | static_cast<uint8_t>(bytes_[at_ + i]);
    at_ += 8;
    return value;
  }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  bool boolean() { return u8() != 0; }
  std::string str() {
    const uint64_t size = u64();
    if (!need(size)) return {};
    std::string text(bytes_.substr(at_, size));
    at_ += size;
    return text;
  }
  std::optional<int64_t> optional_i64() {
    const bool present = boolean();
    const int64_t value = i64();
    return present ? std::optional<int64_t>(value) : std::nullopt;
  }
  // A count of elements, each at least `min_bytes` long: refuses counts the rest cannot hold.
  uint64_t count(size_t min_bytes = 1) {
    const uint64_t n = u64();
    if (ok_ && n > (bytes_.size() - at_) / std::max<size_t>(min_bytes, 1)) ok_ = false;
    return ok_ ? n : 0;
  }

 private:
  bool need(uint64_t size) {
    if (!ok_ || size > bytes_.size() - at_) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::string_view bytes_;
  size_t at_ = 0;
  bool ok_ = true;
};

void write_bill(Writer& w, const Bill& bill) {
  w.str(bill.payer_id);
  w.str(bill.payer_name);
  w.i64(bill.month);
  w.boolean(bill.closed);
  w.u64(bill.usage_types.size());
  for (const UsageTypeSummary& type : bill.usage_types) {
    w.str(type.usage_type);
    w.str(type.service);
    w.str(type.unit);
    w.i64(type.quantity);
    w.i64(type.consolidated_cost);
    w.i64(type.standalone_cost);
  }
  w.u64(bill.lines.size());
  for (const BillLine& line : bill.lines) {
    w.str(line.account_id);
    w.str(line.usage_type);
    w.i64(line.quantity);
    w.i64(line.standalone_cost);
    w.i64(line.billed_cost);
  }
  w.u64(bill.corrections.size());
  for (const CorrectionLine& line : bill.corrections) {
    w.str(line.account_id);
    w.str(line.usage_type);
    w.i64(line.origin_month);
    w.i64(line.quantity);
    w.i64(line.amount);
  }
  w.u64(bill.credits.size());
  for (const CreditApplication& credit : bill.credits) {
    w.str(credit.credit_id);
    w.str(credit.owner_account_id);
    w.str(credit.applied_account_id);
    w.str(credit.description);
    w.i64(credit.amount);
  }
  w.u64(bill.members.size());
  for (const MemberSummary& member : bill.members) {
    w.str(member.account_id);
    w.str(member.name);
    w.i64(member.usage);
    w.i64(member.corrections);
    w.i64(member.credits);
    w.i64(member.total);
    w.i64(member.invoice_cents);
  }
  for (int64_t total :
       {bill.usage_total, bill.standalone_total, bill.savings, bill.corrections_total,
        bill.credits_total, bill.total, bill.invoice_cents}) {
    w.i64(total);
  }
}

Bill read_bill(Reader& r) {
  Bill bill;
  bill.payer_id = r.str();
  bill.payer_name = r.str();
  bill.month = static_cast<Month>(r.i64());
  bill.closed = r.boolean();
  for (uint64_t n = r.count(); n > 0; --n) {
    UsageTypeSummary type;
    type.usage_type = r.str();
    type.service = r.str();
    type.unit = r.str();
    type.quantity = r.i64();
    type.consolidated_cost = r.i64();
    type.standalone_cost = r.i64();
    bill.usage_types.push_back(std::move(type));
  }
  for (uint64_t n = r.count(); n > 0; --n) {
    BillLine line;
    line.account_id = r.str();
    line.usage_type = r.str();
    line.quantity = r.i64();
    line.standalone_cost = r.i64();
    line.billed_cost = r.i64();
    bill.lines.push_back(std::move(line));
  }
  for (uint64_t n = r.count(); n > 0; --n) {
    CorrectionLine line;
    line.account_id = r.str();
    line.usage_type = r.str();
    line.origin_month = static_cast<Month>(r.i64());
    line.quantity = r.i64();
    line.amount = r.i64();
    bill.corrections.push_back(std::move(line));
  }
  for (uint64_t n = r.count(); n > 0; --n) {
    CreditApplication credit;
    credit.credit_id = r.str();
    credit.owner_account_id = r.str();
    credit.applied_account_id = r.str();
    credit.description = r.str();
    credit.amount = r.i64();
    bill.credits.push_back(std::move(credit));
  }
  for (uint64_t n = r.count(); n > 0; --n) {
    MemberSummary member;
    member.account_id = r.str();
    member.name = r.str();
    member.usage = r.i64();
    member.corrections = r.i64();
    member.credits = r.i64();
    member.total = r.i64();
    member.invoice_cents = r.i64();
    bill.members.push_back(std::move(member));
  }
  for (int64_t* total :
       {&bill.usage_total, &bill.standalone_total, &bill.savings, &bill.corrections_total,
        &bill.credits_total, &bill.total, &bill.invoice_cents}) {
    *total = r.i64();
  }
  return bill;
}

void write_strings(Writer& w, const std::set<std::string, std::less<>>& values) {
  w.u64(values.size());
  for (const std::string& value : values) w.str(value);
}

std::set<std::string, std::less<>> read_strings(Reader& r) {
  std::set<std::string, std::less<>> values;
  for (uint64_t n = r.count(8); n > 0; --n) values.insert(r.str());
  return values;
}

void write_changes(Writer& w, const std::vector<Change>& changes) {
  w.u64(changes.size());
  for (const Change& change : changes) {
    w.u64(change.position);
    w.i64(change.recorded_at);
    w.u8(static_cast<uint8_t>(change.type));
    w.str(change.actor);
  }
}

std::vector<Change> read_changes(Reader& r) {
  std::vector<Change> changes;
  for (uint64_t n = r.count(8); n > 0 && r.ok(); --n) {
    Change change;
    change.position = r.u64();
    change.recorded_at = r.i64();
    change.type = static_cast<fb::EventBody>(r.u8());
    change.actor = r.str();
    changes.push_back(std::move(change));
  }
  return changes;
}

constexpr std::string_view kMagic = "orgledger.snapshot";

}  // namespace

std::string encode_snapshot(const Registry& state) {
  Writer w;
  w.str(kMagic);
  w.u64(kSnapshotVersion);
  w.u64(state.accounts.size());
  for (const auto& [id, account] : state.accounts) {
    w.str(account.id);
    w.str(account.email);
    w.str(account.name);
    w.u8(static_cast<uint8_t>(account.status));
    w.i64(account.created_at);
    w.i64(account.closed_at);
    w.i64(account.changed_at);
    w.i64(account.last_usage_at);
    w.boolean(account.password_set);
    write_strings(w, account.mfa_devices);
    write_changes(w, account.changes);
    w.u64(account.memberships.size());
    for (const Membership& membership : account.memberships) {
      w.str(membership.org_id);
      w.str(membership.payer_id);
      w.i64(membership.joined_at);
      w.i64(membership.left_at);
      w.u8(static_cast<uint8_t>(membership.method));
      w.u64(membership.parents.size());
      for (const auto& [from, parent] : membership.parents) {
        w.i64(from);
        w.str(parent);
      }
    }
  }
  w.u64(state.organizations.size());
  for (const auto& [id, organization] : state.organizations) {
    w.str(organization.id);
    w.str(organization.root_id);
    w.str(organization.management_account_id);
    w.u8(static_cast<uint8_t>(organization.feature_set));
    w.u64(organization.max_accounts);
    w.i64(organization.created_at);
    w.boolean(organization.deleted);
    w.i64(organization.deleted_at);
    write_strings(w, organization.member_ids);
    write_strings(w, organization.open_invitation_ids);
    w.i64(organization.changed_at);
    w.boolean(organization.credit_sharing);
    w.boolean(organization.all_features_request.has_value());
    if (organization.all_features_request) write_strings(w, *organization.all_features_request);
    write_changes(w, organization.changes);
  }
  w.u64(state.handshakes.size());
  for (const auto& [id, handshake] : state.handshakes) {
    w.str(handshake.id);
    w.str(handshake.org_id);
    w.str(handshake.account_id);
    w.u8(static_cast<uint8_t>(handshake.action));
    w.u8(static_cast<uint8_t>(handshake.state));
    w.i64(handshake.requested_at);
    w.i64(handshake.expires_at);
    w.i64(handshake.changed_at);
  }
  w.u64(state.account_by_email.size());
  for (const auto& [email, id] : state.account_by_email) {
    w.str(email);
    w.str(id);
  }
  write_strings(w, state.root_ids);
  w.u64(state.ous.size());
  for (const auto& [id, ou] : state.ous) {
    w.str(ou.id);
    w.str(ou.org_id);
    w.str(ou.parent_id);
    w.str(ou.name);
    w.i64(ou.depth);
    w.i64(ou.created_at);
  }
  w.u64(state.policies.size());
  for (const auto& [id, policy] : state.policies) {
    w.str(policy.id);
    w.str(policy.org_id);
    w.str(policy.name);
    w.str(policy.document);  // statements are parsed again from it
    w.i64(policy.created_at);
    w.boolean(policy.deleted);
  }
  w.u64(state.attachments.size());
  for (const auto& [target, attachments] : state.attachments) {
    w.str(target);
    w.u64(attachments.size());
    for (const Attachment& attachment : attachments) {
      w.str(attachment.policy_id);
      w.i64(attachment.attached_at);
      w.i64(attachment.detached_at);
    }
  }

  const Billing& billing = state.billing;
  w.u64(billing.prices.size());
  for (const auto& [usage_type, schedules] : billing.prices.in_order()) {
    w.str(usage_type);
    w.u64(schedules->size());
    for (const auto& [month, schedule] : *schedules) {
      w.str(schedule.usage_type);
      w.str(schedule.service);
      w.str(schedule.unit);
      w.i64(schedule.effective_month);
      w.u64(schedule.tiers.size());
      for (const Tier& tier : schedule.tiers) {
        w.optional_i64(tier.up_to);
        w.i64(tier.unit_price);
      }
    }
  }
  // The aggregates, then the (payer, month, usage type) totals, both in key order (the layout
  // of format version 2, when they were two flat maps).
  w.u64(billing.usage_entries());
  for (const auto& [key, month_usage] : billing.usage) {
    const auto rows = sorted_rows(state, month_usage);
    for (const auto& [usage_type, type_usage] : billing.sorted_types(month_usage)) {
      // Structured bindings are captured by init-capture (C++20 clang refuses them otherwise).
      auto put = [&w, &payer_month = key, type_name = usage_type](std::string_view account_id,
                                                                  int64_t quantity) {
        w.str(payer_month.payer_id);
        w.i64(payer_month.month);
        w.str(type_name);
        w.str(account_id);
        w.i64(quantity);
      };
      for_each_quantity(rows, *type_usage, put);
    }
  }
  w.u64(billing.late.size());
  for (const auto& [key, quantity] : billing.late) {
    w.str(key.payer_id);
    w.i64(key.target);
    w.i64(key.origin);
    w.str(key.usage_type);
    w.str(key.account_id);
    w.i64(quantity);
  }
  size_t totals = 0;
  for (const auto& [key, month_usage] : billing.usage) totals += month_usage.types.size();
  w.u64(totals);
  for (const auto& [key, month_usage] : billing.usage) {
    for (const auto& [usage_type, type_usage] : billing.sorted_types(month_usage)) {
      w.str(key.payer_id);
      w.i64(key.month);
      w.str(usage_type);
      w.i64(type_usage->quantity);
    }
  }
  w.u64(billing.credits.size());
  for (const auto& [id, credit] : billing.credits) {
    w.str(credit.id);
    w.str(credit.account_id);
    w.str(credit.description);
    w.i64(credit.amount);
    w.i64(credit.first_month);
    w.optional_i64(credit.expires_month);
    w.i64(credit.granted_at);
    w.u64(credit.granted_position);
    w.i64(credit.consumed);
  }
  w.optional_i64(billing.last_closed);
  w.optional_i64(billing.earliest_usage_month);
  w.u64(billing.frozen_bills.size());
  for (const auto& [key, bill] : billing.frozen_bills) write_bill(w, bill);
  return w.take();
}

Result<Registry> decode_snapshot(std::string_view bytes) {
  Reader r(bytes);
  auto corrupt = [](std::string why) {
    return Status(Code::kDataLoss, Reason::kCorruptRecord, "checkpoint snapshot " + why);
  };
  if (r.str() != kMagic || !r.ok()) return corrupt("is not an orgledger snapshot");
  if (const uint64_t version = r.u64(); version != kSnapshotVersion) {
    return corrupt("has version " + std::to_string(version) + "; this orgledger reads " +
                   std::to_string(kSnapshotVersion));
  }
  Registry state;
  for (uint64_t n = r.count(); n > 0 && r.ok(); --n) {
    Account account;
    account.id = r.str();
    account.email = r.str();
    account.name = r.str();
    account.status = static_cast<AccountStatus>(r.u8());
    account.created_at = r.i64();
    account.closed_at = r.i64();
    account.changed_at = r.i64();
    account.last_usage_at = r.i64();
    account.password_set = r.boolean();
    account.mfa_devices = read_strings(r);
    account.changes = read_changes(r);
    for (uint64_t m = r.count(); m > 0 && r.ok(); --m) {
      Membership membership;
      membership.org_id = r.str();
      membership.payer_id = r.str();
      membership.joined_at = r.i64();
      membership.left_at = r.i64();
      membership.method = static_cast<JoinedMethod>(r.u8());
      for (uint64_t p = r.count(); p > 0 && r.ok(); --p) {
        const Micros from = r.i64();
        membership.parents.emplace_back(from, r.str());
      }
      if (membership.parents.empty()) r.fail();  // every membership has a parent
      account.memberships.push_back(std::move(membership));
    }
    if (state.find_account(account.id) != nullptr) return corrupt("holds an account twice");
    state.add_account(std::move(account));
  }
  for (uint64_t n = r.count(); n > 0 && r.ok(); --n) {
    Organization organization;
    organization.id = r.str();
    organization.root_id = r.str();
    organization.management_account_id = r.str();
    organization.feature_set = static_cast<fb::FeatureSet>(r.u8());
    organization.max_accounts = static_cast<uint32_t>(r.u64());
    organization.created_at = r.i64();
    organization.deleted = r.boolean();
    organization.deleted_at = r.i64();
    organization.member_ids = read_strings(r);
    organization.open_invitation_ids = read_strings(r);
    organization.changed_at = r.i64();
    organization.credit_sharing = r.boolean();
    if (r.boolean()) organization.all_features_request = read_strings(r);
    organization.changes = read_changes(r);
    state.organizations.emplace(organization.id, std::move(organization));
  }
  for (uint64_t n = r.count(); n > 0 && r.ok(); --n) {
    Handshake handshake;
    handshake.id = r.str();
    handshake.org_id = r.str();
    handshake.account_id = r.str();
    handshake.action = static_cast<fb::HandshakeAction>(r.u8());
    handshake.state = static_cast<HandshakeState>(r.u8());
    handshake.requested_at = r.i64();
    handshake.expires_at = r.i64();
    handshake.changed_at = r.i64();
    state.handshakes.emplace(handshake.id, std::move(handshake));
  }
  for (uint64_t n = r.count(); n > 0 && r.ok(); --n) {
    std::string email = r.str();
    state.account_by_email.emplace(std::move(email), r.str());
  }
  state.root_ids = read_strings(r);
  for (uint64_t n = r.count(); n > 0 && r.ok(); --n) {
    OrganizationalUnit ou;
    ou.id = r.str();
    ou.org_id = r.str();
    ou.parent_id = r.str();
    ou.name = r.str();
    ou.depth = static_cast<int>(r.i64());
    ou.created_at = r.i64();
    state.ous.emplace(ou.id, std::move(ou));
  }
  for (uint64_t n = r.count(); n > 0 && r.ok(); --n) {
    Policy policy;
    policy.id = r.str();
    policy.org_id = r.str();
    policy.name = r.str();
    policy.document = r.str();
    policy.created_at = r.i64();
    policy.deleted = r.boolean();
    auto statements = parse_policy_document(policy.document);
    if (!statements.is_ok()) return corrupt("holds a policy document that does not parse");
    policy.statements = std::move(*statements);
    state.policies.emplace(policy.id, std::move(policy));
  }
  for (uint64_t n = r.count(); n > 0 && r.ok(); --n) {
    auto& attachments = state.attachments[r.str()];
    for (uint64_t m = r.count(); m > 0 && r.ok(); --m) {
      Attachment attachment;
      attachment.policy_id = r.str();
      attachment.attached_at = r.i64();
      attachment.detached_at = r.i64();
      attachments.push_back(std::move(attachment));
    }
  }

  Billing& billing = state.billing;
  for (uint64_t n = r.count(); n > 0 && r.ok(); --n) {
    auto& schedules = billing.prices.schedules(billing.prices.add(r.str()));
    for (uint64_t m = r.count(); m > 0 && r.ok(); --m) {
      PriceSchedule schedule;
      schedule.usage_type = r.str();
      schedule.service = r.str();
      schedule.unit = r.str();
      schedule.effective_month = static_cast<Month>(r.i64());
      for (uint64_t t = r.count(); t > 0 && r.ok(); --t) {
        Tier tier;
        tier.up_to = r.optional_i64();
        tier.unit_price = r.i64();
        schedule.tiers.push_back(tier);
      }
      schedules.emplace(schedule.effective_month, std::move(schedule));
    }
  }
  for (uint64_t n = r.count(); n > 0 && r.ok(); --n) {
    PayerMonth key;
    key.payer_id = r.str();
    key.month = static_cast<Month>(r.i64());
    const std::optional<uint32_t> usage_type = billing.prices.number(r.str());
    const Account* account = state.find_account(r.str());
    const int64_t quantity = r.i64();
    if (!r.ok()) break;
    if (!usage_type) return corrupt("holds usage of a type with no price schedule");
    if (account == nullptr) return corrupt("holds usage of an account it does not hold");
    MonthUsage& month_usage = billing.usage[std::move(key)];
    TypeUsage& type_usage = month_usage.types[*usage_type];
    if (quantity <= 0 || type_usage.quantity > std::numeric_limits<int64_t>::max() - quantity) {
      return corrupt("holds a usage aggregate out of range");
    }
    const uint32_t row = month_usage.row_of(account->index);
    if (type_usage.quantity_of(row) != 0) return corrupt("holds a usage aggregate twice");
    type_usage.add(row, quantity);
  }
  for (uint64_t n = r.count(); n > 0 && r.ok(); --n) {
    CorrectionKey key;
    key.payer_id = r.str();
    key.target = static_cast<Month>(r.i64());
    key.origin = static_cast<Month>(r.i64());
    key.usage_type = r.str();
    key.account_id = r.str();
    billing.late.emplace(std::move(key), r.i64());
  }
  // The totals repeat the sums of the aggregates: they must agree, one for one.
  size_t totals = 0;
  for (uint64_t n = r.count(); n > 0 && r.ok(); --n, ++totals) {
    const std::string payer = r.str();
    const auto month = static_cast<Month>(r.i64());
    const std::string usage_type = r.str();
    const TypeUsage* type_usage = billing.usage_of(payer, month, usage_type);
    if (r.i64() != (type_usage != nullptr ? type_usage->quantity : -1)) {
      return corrupt("holds usage totals that are not the sums of its aggregates");
    }
  }
  for (auto& [key, month_usage] : billing.usage) {
    if (totals < month_usage.types.size()) {
      return corrupt("holds usage totals that are not the sums of its aggregates");
    }
    totals -= month_usage.types.size();
    for (auto& [usage_type, type_usage] : month_usage.types) {
      const PriceSchedule* schedule = billing.schedule_for(usage_type, key.month);
      if (schedule == nullptr) return corrupt("holds usage of a type with no price schedule");
      Billing::reprice(type_usage, month_usage, *schedule);
    }
  }
  if (totals != 0) return corrupt("holds usage totals that are not the sums of its aggregates");
  for (uint64_t n = r.count(); n > 0 && r.ok(); --n) {
    Credit credit;
    credit.id = r.str();
    credit.account_id = r.str();
    credit.description = r.str();
    credit.amount = r.i64();
    credit.first_month = static_cast<Month>(r.i64());
    if (auto expires = r.optional_i64()) credit.expires_month = static_cast<Month>(*expires);
    credit.granted_at = r.i64();
    credit.granted_position = r.u64();
    credit.consumed = r.i64();
    billing.credits.emplace(credit.id, std::move(credit));
  }
  if (auto closed = r.optional_i64()) billing.last_closed = static_cast<Month>(*closed);
  if (auto earliest = r.optional_i64())
    billing.earliest_usage_month = static_cast<Month>(*earliest);
  for (uint64_t n = r.count(); n > 0 && r.ok(); --n) {
    Bill bill = read_bill(r);
    billing.frozen_bills.emplace(std::make_pair(bill.payer_id, bill.month), std::move(bill));
  }
  if (!r.ok()) return corrupt("is truncated or malformed");
  if (!r.at_end()) return corrupt("has bytes after its end");
  return state;
}

}  // namespace orgledger

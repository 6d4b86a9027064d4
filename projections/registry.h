// The registry projection: organizations, accounts with their membership history, and
// handshakes, as a pure fold over events (DOMAIN.md "Organizations and accounts").
//
// `validate` and `apply` are the same functions on the write path and in replay, so a served
// state and a replayed state cannot differ. They read only the state, the event and its
// context (recorded_at, actor): never a clock, the environment or randomness.
// A Registry is a plain value: copyable, not thread-safe; its owner serializes access.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "projections/bill.h"
#include "projections/hash_index.h"
#include "projections/money.h"
#include "projections/sha256.h"
#include "projections/status.h"
#include "projections/values.h"
#include "schema/events_generated.h"

namespace orgledger {

// DOMAIN.md constants.
inline constexpr uint32_t kDefaultMaxAccounts = 10;
inline constexpr Micros kInviteLifetime = 15 * kMicrosPerDay;
inline constexpr Micros kLeaveWaitPeriod = 4 * kMicrosPerDay;
inline constexpr Micros kMaxFutureSkew = 5 * kMicrosPerMinute;
inline constexpr Micros kAllFeaturesLifetime = 90 * kMicrosPerDay;
inline constexpr int kMaxOuDepth = 5;

enum class AccountStatus : uint8_t { kActive, kSuspended };
enum class JoinedMethod : uint8_t { kCreated, kInvited };
enum class HandshakeState : uint8_t { kRequested, kAccepted, kDeclined, kCanceled, kExpired };

std::string_view account_status_name(AccountStatus status);
std::string_view joined_method_name(JoinedMethod method);
std::string_view handshake_state_name(HandshakeState state);

// One stretch of organization membership: [joined_at, left_at) in occurred-time, during which
// `payer_id` (the organization's management account) pays for the account's usage.
struct Membership {
  std::string org_id;
  std::string payer_id;
  Micros joined_at = 0;
  Micros left_at = kForever;
  JoinedMethod method = JoinedMethod::kCreated;
  // Where the account sat in the organization's tree: (from, parent id) in time order; the
  // first is the root at joined_at; AccountMoved appends.
  std::vector<std::pair<Micros, std::string>> parents;

  // The parent (root or organizational unit) at `time`, within the membership.
  const std::string& parent_at(Micros time) const;
};

// One stored event that changed an account or an organization, and who appended it.
struct Change {
  uint64_t position = 0;
  Micros recorded_at = 0;
  fb::EventBody type = fb::EventBody::NONE;
  std::string actor;
};

struct Account {
  std::string id;
  // Its number in Registry::account_ids, given when it enters the state: the usage aggregates
  // are keyed by it instead of the id's string. Not part of the state's value (a state restored
  // from a snapshot numbers its accounts in id order, a replayed one in log order); never output.
  uint32_t index = 0;
  std::string email;
  std::string name;
  AccountStatus status = AccountStatus::kActive;
  Micros created_at = 0;
  Micros closed_at = kForever;
  // Oldest first; at most the last one is open (left_at == kForever).
  std::vector<Membership> memberships;
  // Latest occurred_at of an event that changed this account; later changes may not precede it.
  Micros changed_at = 0;
  // Latest occurred_at of its usage. A change of payer or status may not precede it: the payer
  // of recorded usage is fixed when it is recorded, so history may not be rewritten under it.
  Micros last_usage_at = -1;  // -1: no usage yet
  // Securing the account: the facts only (the secrets live in the credentials store).
  bool password_set = false;
  std::set<std::string, std::less<>> mfa_devices;
  // The events that changed it, in log order (usage is not listed).
  std::vector<Change> changes;

  bool secured() const { return password_set && !mfa_devices.empty(); }

  // The open membership, or nullptr when the account is standalone.
  const Membership* current_membership() const;
  // The membership covering `time`, or nullptr.
  const Membership* membership_at(Micros time) const;
  // Who pays for its usage at `time`: its organization's management account, else itself.
  const std::string& payer_at(Micros time) const {
    const Membership* membership = membership_at(time);
    return membership != nullptr ? membership->payer_id : id;
  }
};

struct Organization {
  std::string id;
  std::string root_id;
  std::string management_account_id;
  fb::FeatureSet feature_set = fb::FeatureSet::ALL;
  uint32_t max_accounts = kDefaultMaxAccounts;
  Micros created_at = 0;
  bool deleted = false;
  Micros deleted_at = kForever;
  // Current members, the management account included.
  std::set<std::string, std::less<>> member_ids;
  // Invitations still in state REQUESTED (some may have expired by a given time).
  std::set<std::string, std::less<>> open_invitation_ids;
  Micros changed_at = 0;
  // CreditSharingSet: members' credits apply to the whole consolidated bill (default on).
  bool credit_sharing = true;
  // AllFeaturesEnableRequested: the ENABLE_ALL_FEATURES handshakes of the pending request.
  std::optional<std::set<std::string, std::less<>>> all_features_request;
  // The events that changed it, in log order.
  std::vector<Change> changes;
};

struct OrganizationalUnit {
  std::string id;
  std::string org_id;
  std::string parent_id;  // a root or an organizational unit
  std::string name;
  int depth = 1;  // 1 = directly below the root; at most kMaxOuDepth
  Micros created_at = 0;
};

// One statement of a service control policy.
struct PolicyStatement {
  bool allow = true;                            // Allow or Deny
  std::set<std::string, std::less<>> services;  // service names, or "*"
  bool covers(std::string_view service) const {
    return services.contains("*") || services.contains(service);
  }
};

struct Policy {
  std::string id;
  std::string org_id;
  std::string name;
  std::string document;  // as appended
  std::vector<PolicyStatement> statements;
  Micros created_at = 0;
  bool deleted = false;
};

// A policy attached to a target over [attached_at, detached_at).
struct Attachment {
  std::string policy_id;
  Micros attached_at = 0;
  Micros detached_at = kForever;
};

struct Handshake {
  std::string id;
  std::string org_id;
  std::string account_id;
  fb::HandshakeAction action = fb::HandshakeAction::INVITE;
  HandshakeState state = HandshakeState::kRequested;  // as stored; see state_at()
  Micros requested_at = 0;
  Micros expires_at = 0;
  Micros changed_at = 0;

  // The state at `time`: a REQUESTED handshake is EXPIRED from expires_at on.
  HandshakeState state_at(Micros time) const;
};

template <typename T>
using ById = std::map<std::string, T, std::less<>>;

// Abseil's hash of an id's bytes. Debian's Abseil keeps absl::string_view a type of its own, and
// hashes a std::string_view through std::hash (a slower, general-purpose hash): the bytes are
// handed over as an absl::string_view instead.
inline absl::string_view absl_view(std::string_view id) { return {id.data(), id.size()}; }

// Hashing and comparing ids as std::string_view, so that a hash table keyed by std::string is
// searched with a view (Abseil's own transparent string hash takes only absl::string_view).
struct IdHash {
  using is_transparent = void;
  size_t operator()(std::string_view id) const {
    return absl::Hash<absl::string_view>()(absl_view(id));
  }
};
struct IdEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

// An ordered map with a hash index beside it: find() hashes the key once instead of comparing
// it down the tree (accounts, organizations, payer-months and usage types are looked up for
// every usage event), while iteration stays in key order. The index maps a `View` of each key
// (a std::string_view of an id, say) to the map's entry; std::map's nodes never move, so the
// views and iterators stay valid until their entry is erased.
template <typename Key, typename T, typename Less, typename View, typename Hash, typename Eq>
class IndexedMap {
 public:
  using Map = std::map<Key, T, Less>;
  using iterator = typename Map::iterator;
  using const_iterator = typename Map::const_iterator;

  IndexedMap() = default;
  IndexedMap(const IndexedMap& other) : map_(other.map_) { reindex(); }
  IndexedMap& operator=(const IndexedMap& other) {
    if (this != &other) {
      map_ = other.map_;
      reindex();
    }
    return *this;
  }
  // Moving a std::map keeps its nodes, so the index's views and iterators stay valid.
  IndexedMap(IndexedMap&&) noexcept = default;
  IndexedMap& operator=(IndexedMap&&) noexcept = default;

  template <typename K, typename Value>
  std::pair<iterator, bool> emplace(K&& key, Value&& value) {
    auto emplaced = map_.emplace(std::forward<K>(key), std::forward<Value>(value));
    if (emplaced.second) index_.insert(View(emplaced.first->first), emplaced.first);
    return emplaced;
  }
  // The entry of `key`, value-initialized first when there is none.
  T& operator[](Key key) {
    if (auto it = find(View(key)); it != map_.end()) return it->second;
    return emplace(std::move(key), T{}).first->second;
  }
  void erase(iterator it) {
    index_.erase(View(it->first));
    map_.erase(it);
  }
  iterator find(const View& key) {
    const iterator* found = index_.find(key);
    return found == nullptr ? map_.end() : *found;
  }
  const_iterator find(const View& key) const {
    const iterator* found = index_.find(key);
    return found == nullptr ? map_.end() : const_iterator(*found);
  }
  bool contains(const View& key) const { return index_.find(key) != nullptr; }

  // A lookup in stages (HashIndex): hash the key, prefetch its index slot, take the candidate
  // entry of that hash once the slot has arrived (and ask for the entry), then find_hashed,
  // which compares the candidate's key first.
  uint64_t hash(const View& key) const { return index_.hash(key); }
  void prefetch(uint64_t hashed) const { index_.prefetch(hashed); }
  const_iterator candidate(uint64_t hashed) const {
    const iterator* found = index_.candidate(hashed);
    return found == nullptr ? map_.end() : const_iterator(*found);
  }
  const_iterator find_hashed(const View& key, uint64_t hashed, const_iterator candidate) const {
    if (candidate != map_.end() && Eq()(View(candidate->first), key)) return candidate;
    const iterator* found = index_.find(key, hashed);
    return found == nullptr ? map_.end() : const_iterator(*found);
  }
  T& at(const View& key) { return checked(find(key))->second; }
  const T& at(const View& key) const { return checked(find(key))->second; }

  iterator begin() { return map_.begin(); }
  iterator end() { return map_.end(); }
  const_iterator begin() const { return map_.begin(); }
  const_iterator end() const { return map_.end(); }
  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }

 private:
  void reindex() {
    index_.clear();
    index_.reserve(map_.size());
    for (auto it = map_.begin(); it != map_.end(); ++it) index_.insert(View(it->first), it);
  }
  template <typename Iterator>
  Iterator checked(Iterator it) const {
    if (it == map_.end()) throw std::out_of_range("no entry with that key");
    return it;
  }

  struct KeyOf {
    View operator()(iterator it) const { return View(it->first); }
  };
  Map map_;
  HashIndex<iterator, View, Hash, Eq, KeyOf> index_;  // views of map_'s keys
};

// A ById with a hash index beside it.
template <typename T>
using IndexedById = IndexedMap<std::string, T, std::less<>, std::string_view, IdHash, IdEq>;

// ---- The consolidated ledger ----------------------------------------------------------------

struct PriceSchedule {
  std::string usage_type;
  std::string service;
  std::string unit;
  Month effective_month = 0;
  std::vector<Tier> tiers;
};

struct Credit {
  std::string id;
  std::string account_id;
  std::string description;
  int64_t amount = 0;                  // nano-USD granted
  Month first_month = 0;               // the first month whose bill it may reduce
  std::optional<Month> expires_month;  // the last such month, when it expires
  Micros granted_at = 0;               // occurred_at of the grant: "oldest grant first"
  uint64_t granted_position = 0;       // log position of the grant: the tie-break after granted_at
  int64_t consumed = 0;                // applied by frozen (closed) bills
};

// Usage aggregates, recorded while their month was open: exact quantities per (payer, month,
// usage type, account). A payer's month gives each account with usage in it a row, shared by its
// usage types, and each usage type keeps its accounts' quantities as an array by row: the write
// path finds an aggregate through one small table per payer's month (an entry per account, which
// stays in the CPU's caches) and one load from an array, and a bill sorts its accounts once.
struct TypeUsage {
  int64_t quantity = 0;  // the sum over `by_row`
  // The tiered cost of `quantity` under the schedule in force for the month, in nano-USD, exact
  // even beyond int64. Derived (kept in step with prices and usage, not stored in snapshots): it
  // spares the month's overflow check from pricing every other usage type again.
  Int128 cost = 0;
  // Row (MonthUsage::rows) -> the quantity of that row's account; 0, or past the end: none.
  std::vector<int64_t> by_row;
  uint32_t entries = 0;  // the rows with a quantity

  int64_t quantity_of(uint32_t row) const { return row < by_row.size() ? by_row[row] : 0; }
  // Adds `quantity` to the row's account and to the total (a negative one takes back at most
  // what the row holds); returns the row's new quantity.
  int64_t add(uint32_t row, int64_t quantity);
};

struct MonthUsage {
  Int128 cost = 0;  // the sum of the usage types' `cost`
  // Usage type number (UsageTypes) -> its usage. In no order: walk it in name order through
  // sorted_types().
  absl::flat_hash_map<uint32_t, TypeUsage> types;
  // Account::index -> its row, given at the account's first usage in this month; a row stays
  // when its usage is taken back (its quantities are then 0). Not part of the state's value.
  absl::flat_hash_map<uint32_t, uint32_t> rows;
  std::vector<uint32_t> row_accounts;  // row -> Account::index

  // The row of the account with that index, given the next one when it has none.
  uint32_t row_of(uint32_t account_index);
  std::optional<uint32_t> find_row(uint32_t account_index) const {
    auto it = rows.find(account_index);
    return it == rows.end() ? std::nullopt : std::optional<uint32_t>(it->second);
  }
};

// The priced usage types and their schedules. Each type has a number, given when it is first
// priced (prices never go away), by which the schedules and the usage aggregates are found
// without hashing and comparing its name. The numbers are not part of the state's value (a state
// decoded from a snapshot numbers its types in name order) and are never output.
class UsageTypes {
 public:
  using Schedules = std::map<Month, PriceSchedule>;  // effective month -> schedule

  // The number of `name`, or nullopt when it was never priced.
  std::optional<uint32_t> number(std::string_view name) const {
    auto it = numbers_.find(name);
    return it == numbers_.end() ? std::nullopt : std::optional<uint32_t>(it->second);
  }
  // The number of `name`, given the next one when it is new.
  uint32_t add(std::string_view name);
  const std::string& name(uint32_t number) const { return names_[number]; }
  Schedules& schedules(uint32_t number) { return schedules_[number]; }
  const Schedules& schedules(uint32_t number) const { return schedules_[number]; }
  size_t size() const { return names_.size(); }
  // Every type as (name, its schedules), in name order.
  std::vector<std::pair<std::string_view, const Schedules*>> in_order() const;

 private:
  std::vector<std::string> names_;    // number -> name
  std::vector<Schedules> schedules_;  // number -> schedules
  absl::flat_hash_map<std::string, uint32_t, IdHash, IdEq> numbers_;
};

// A consolidated bill: the payer and the month. Ordered by payer, then month; found through a
// PayerMonthView (a hash index keyed by views, or the transparent comparator) without building a
// key.
struct PayerMonth {
  std::string payer_id;
  Month month = 0;
};
struct PayerMonthView {
  PayerMonthView(std::string_view payer, Month in) : payer_id(payer), month(in) {}
  explicit PayerMonthView(const PayerMonth& key) : payer_id(key.payer_id), month(key.month) {}
  std::string_view payer_id;
  Month month = 0;
  bool operator==(const PayerMonthView&) const = default;
};
struct PayerMonthHash {
  size_t operator()(const PayerMonthView& key) const {
    return absl::Hash<std::pair<absl::string_view, Month>>()({absl_view(key.payer_id), key.month});
  }
};
struct PayerMonthLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    const int order = std::string_view(a.payer_id).compare(b.payer_id);
    return order != 0 ? order < 0 : a.month < b.month;
  }
};

// Late usage of a closed `origin` month, billed as a correction in `target` (the first month
// that was open when it was recorded).
struct CorrectionKey {
  std::string payer_id;
  Month target = 0;
  Month origin = 0;
  std::string usage_type;
  std::string account_id;
  auto operator<=>(const CorrectionKey&) const = default;
};

struct Billing {
  // The priced usage types, numbered: usage type -> effective month -> schedule.
  UsageTypes prices;
  // recorded while its month was open
  IndexedMap<PayerMonth, MonthUsage, PayerMonthLess, PayerMonthView, PayerMonthHash,
             std::equal_to<PayerMonthView>>
      usage;
  std::map<CorrectionKey, int64_t> late;  // recorded after its month closed
  ById<Credit> credits;
  std::optional<Month> last_closed;
  std::optional<Month> earliest_usage_month;
  // Bills frozen when their month closed: (payer, month) -> bill.
  std::map<std::pair<std::string, Month>, Bill> frozen_bills;

  // The schedule in force for `usage_type` (a name or a number) in `month`, or nullptr.
  const PriceSchedule* schedule_for(std::string_view usage_type, Month month) const;
  const PriceSchedule* schedule_for(uint32_t usage_type, Month month) const;
  // The usage types of `month_usage` as (name, usage), in name order.
  std::vector<std::pair<std::string_view, const TypeUsage*>> sorted_types(
      const MonthUsage& month_usage) const;
  // The usage of a payer's month, or of one usage type in it; nullptr when there is none.
  const MonthUsage* usage_of(std::string_view payer_id, Month month) const;
  const TypeUsage* usage_of(std::string_view payer_id, Month month,
                            std::string_view usage_type) const;
  // The number of (payer, month, usage type, account) aggregates in `usage`.
  size_t usage_entries() const;
  // Sets `type_usage.cost` (and its month's sum) to its quantity's cost under `schedule`.
  static void reprice(TypeUsage& type_usage, MonthUsage& month_usage,
                      const PriceSchedule& schedule);
  bool is_closed(Month month) const { return last_closed && month <= *last_closed; }
  // The first month whose bills are not frozen yet.
  std::optional<Month> first_open_month() const {
    return last_closed ? std::optional<Month>(next_month(*last_closed)) : std::nullopt;
  }
};

struct Registry {
  IndexedById<Account> accounts;
  // Account::index -> account id; accounts are never removed.
  std::vector<std::string> account_ids;
  IndexedById<Organization> organizations;
  ById<Handshake> handshakes;
  ById<std::string> account_by_email;  // lower-cased email -> account id
  std::set<std::string, std::less<>> root_ids;
  ById<OrganizationalUnit> ous;
  ById<Policy> policies;
  // target (root, organizational unit or account) -> its attachments, oldest first
  ById<std::vector<Attachment>> attachments;
  Billing billing;

  const Account* find_account(std::string_view id) const;
  // Adds `account`, which must be new, with the next index; returns it as stored.
  Account& add_account(Account account);
  const Organization* find_organization(std::string_view id) const;
  const Handshake* find_handshake(std::string_view id) const;

  // The payer of usage by `account_id` that occurred at `time`: the management account of the
  // organization the account belonged to then, else the account itself. A view into this state
  // or into `account_id`: valid while both are unchanged.
  std::string_view payer_at(std::string_view account_id, Micros time) const;
  // Accounts counted against an organization's quota at `time`: members plus invitations still
  // pending then.
  size_t quota_usage(const Organization& organization, Micros time) const;

  // The organization a root or organizational unit id belongs to, or nullptr.
  const Organization* organization_of_parent(std::string_view parent_id) const;
};

// The rows of `month_usage` as (account id, row), in account id order; the ids are views into
// `state`. Read a usage type's quantities in that order with TypeUsage::quantity_of (0: none).
std::vector<std::pair<std::string_view, uint32_t>> sorted_rows(const Registry& state,
                                                               const MonthUsage& month_usage);

// Calls visit(account id, quantity) for each of `rows` (sorted_rows of the month of
// `type_usage`) with a quantity of that usage type, in the order of `rows`.
template <typename Visit>
void for_each_quantity(const std::vector<std::pair<std::string_view, uint32_t>>& rows,
                       const TypeUsage& type_usage, Visit visit) {
  for (const auto& [account_id, row] : rows) {
    if (const int64_t quantity = type_usage.quantity_of(row)) visit(account_id, quantity);
  }
}

// Puts to the `ledger` column family, in order, produced by apply (see ledger_keys.h).
using LedgerWrites = std::vector<std::pair<std::string, std::string>>;

// What the log adds to an event when it is stored.
// What validating a usage event looked up in a state, for applying that event to that same
// state right after without looking it up again (the engine's hot path).
struct UsageLookup {
  const Registry* state = nullptr;           // the state validated against
  const fb::UsageRecorded* event = nullptr;  // the event validated
  const Account* account = nullptr;
  const PriceSchedule* schedule = nullptr;  // its usage type's price in its month
  const MonthUsage* month_usage = nullptr;  // its payer's usage that month; null: none yet
  const TypeUsage* type_usage = nullptr;    // of its usage type; null: none yet
  uint32_t usage_type = 0;                  // its usage type's number (UsageTypes)
};

// A usage event's account and the number of its usage type, when found ahead.
struct UsageFound {
  const Account* account = nullptr;
  std::optional<uint32_t> usage_type;
};

struct EventContext {
  uint64_t position = 0;
  Micros recorded_at = 0;
  std::string_view actor;
  // When set, apply appends the ledger entries it changes, for the engine to write in the same
  // batch as the event. Replay leaves it null.
  LedgerWrites* ledger_writes = nullptr;
  // When set, validate leaves here what it looked up for a valid usage event (and clears it for
  // any other event), and apply of that event to that state reads it instead of looking again.
  // Nothing may change the state in between. Replay leaves it null.
  UsageLookup* usage_lookup = nullptr;
  // What a usage event names, found in this same state a few events ahead (UsagePrefetch,
  // billing.h). validate takes each, after checking it names the same, instead of looking it up
  // again.
  UsageFound usage_ahead{};
};

// Checks `event` against `state` as left by every event before it. Returns OK or the
// DOMAIN.md code and reason; never changes anything.
Status validate(const Registry& state, const fb::Event& event, const EventContext& context);

// Applies an event that `validate` accepted against this same state. Applying an event that
// was not validated is a programming error (the result is unspecified but memory-safe).
void apply(Registry& state, const fb::Event& event, const EventContext& context);

// SHA-256 over a canonical serialization of `state` (sorted keys, every field): two states are
// equal exactly when their digests are.
Hash digest(const Registry& state);

}  // namespace orgledger

// Test helpers: readable constructors for events and a pure harness that validates and applies
// them the way the engine does (pack, validate against the state, apply), without a store.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "projections/authorization.h"
#include "projections/registry.h"
#include "projections/values.h"
#include "schema/events_generated.h"

namespace orgledger::testing {

// The operator (an admin token) the engine tests append as.
inline const Principal kOperator{Role::kAdmin, "test"};

// "2026-10-03T10:00:00Z" -> µs; aborts the test binary on a malformed literal.
Micros at(std::string_view rfc3339);

fb::EventT account_created(std::string id, std::string email, std::string name, std::string org_id,
                           std::string_view when);
fb::EventT organization_created(std::string org_id, std::string management_id,
                                std::string_view when,
                                fb::FeatureSet feature_set = fb::FeatureSet::ALL);
fb::EventT quota_set(std::string org_id, uint32_t max_accounts, std::string_view when);

// Securing an account (DOMAIN.md): the stored facts. A management account needs both before
// OrganizationCreated; secure_account returns PasswordChanged and MfaEnabled("test-device").
fb::EventT password_changed(std::string account_id, std::string_view when);
fb::EventT mfa_enabled(std::string account_id, std::string device_id, std::string_view when);
std::vector<fb::EventT> secure_account(const std::string& account_id, std::string_view when);

fb::EventT account_invited(std::string handshake_id, std::string org_id, std::string account_id,
                           std::string_view when);
fb::EventT handshake_accepted(std::string handshake_id, std::string_view when);
fb::EventT handshake_declined(std::string handshake_id, std::string_view when);
fb::EventT handshake_canceled(std::string handshake_id, std::string_view when);
fb::EventT account_removed(std::string org_id, std::string account_id, std::string_view when);
fb::EventT account_left(std::string account_id, std::string_view when);
fb::EventT account_closed(std::string account_id, std::string_view when);
fb::EventT organization_deleted(std::string org_id, std::string_view when);

// Decimal text is parsed at the unit's scale (aborts on a malformed literal).
struct TierText {
  std::optional<std::string> up_to;  // quantity, e.g. "10240"
  std::string unit_price;            // USD per unit, e.g. "0.17"
};
fb::EventT price_schedule_set(std::string usage_type, std::string service, std::string unit,
                              std::string_view effective_month, std::vector<TierText> tiers,
                              std::string_view when);
fb::EventT usage_recorded(std::string account_id, std::string usage_type, std::string_view quantity,
                          std::string_view when);
fb::EventT credit_granted(std::string credit_id, std::string account_id, std::string_view amount,
                          std::optional<std::string_view> expires_month, std::string_view when);
fb::EventT credit_sharing_set(std::string org_id, bool enabled, std::string_view when);
fb::EventT billing_period_closed(std::string_view month, std::string_view when);

fb::EventT ou_created(std::string ou_id, std::string parent_id, std::string name,
                      std::string_view when);
fb::EventT account_moved(std::string account_id, std::string parent_id, std::string_view when);
fb::EventT policy_created(std::string policy_id, std::string org_id, std::string name,
                          std::string document, std::string_view when);
fb::EventT policy_attached(std::string policy_id, std::string target_id, std::string_view when);
fb::EventT policy_detached(std::string policy_id, std::string target_id, std::string_view when);
fb::EventT policy_deleted(std::string policy_id, std::string_view when);
// handshakes: (handshake id, account id)
fb::EventT all_features_requested(std::string org_id,
                                  std::vector<std::pair<std::string, std::string>> handshakes,
                                  std::string_view when);
fb::EventT all_features_enabled(std::string org_id, std::string_view when);

// DOMAIN.md's worked example as events: payer 111111111111 (secured) with organization
// o-exampleorg1, member 222222222222, data transfer at 10,240 GB x $0.17 then $0.13 from 2026-10,
// and October usage of 8,192 GB and 4,096 GB (consolidated $2,007.04).
std::vector<fb::EventT> worked_example_events();

// Validates and, when valid, applies events one at a time, like the engine's write path.
class Harness {
 public:
  // recorded_at defaults to the event's occurred_at (no clock skew).
  Status append(const fb::EventT& event);
  Status append_recorded_at(const fb::EventT& event, Micros recorded_at);
  const Registry& state() const { return state_; }
  // Goes on from `state` (a decoded snapshot, say) instead of the state built so far.
  void restore(Registry state) { state_ = std::move(state); }

 private:
  Registry state_;
  uint64_t position_ = 0;
};

}  // namespace orgledger::testing

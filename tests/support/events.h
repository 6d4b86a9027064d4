// Test helpers: readable constructors for events and a pure harness that validates and applies
// them the way the engine does (pack, validate against the state, apply), without a store.
#pragma once

#include <string>
#include <utility>

#include "projections/registry.h"
#include "projections/values.h"
#include "schema/events_generated.h"

namespace orgledger::testing {

// "2026-10-03T10:00:00Z" -> µs; aborts the test binary on a malformed literal.
Micros at(std::string_view rfc3339);

fb::EventT account_created(std::string id, std::string email, std::string name, std::string org_id,
                           std::string_view when);
fb::EventT organization_created(std::string org_id, std::string management_id,
                                std::string_view when,
                                fb::FeatureSet feature_set = fb::FeatureSet::ALL);
fb::EventT quota_set(std::string org_id, uint32_t max_accounts, std::string_view when);
fb::EventT account_invited(std::string handshake_id, std::string org_id, std::string account_id,
                           std::string_view when);
fb::EventT handshake_accepted(std::string handshake_id, std::string_view when);
fb::EventT handshake_declined(std::string handshake_id, std::string_view when);
fb::EventT handshake_canceled(std::string handshake_id, std::string_view when);
fb::EventT account_removed(std::string org_id, std::string account_id, std::string_view when);
fb::EventT account_left(std::string account_id, std::string_view when);
fb::EventT account_closed(std::string account_id, std::string_view when);
fb::EventT organization_deleted(std::string org_id, std::string_view when);

// Packs `event` as the engine stores it (within an EventRecord) and returns the bytes.
std::string pack_event(const fb::EventT& event);

// Validates and, when valid, applies events one at a time, like the engine's write path.
class Harness {
 public:
  // recorded_at defaults to the event's occurred_at (no clock skew).
  Status append(const fb::EventT& event);
  Status append_recorded_at(const fb::EventT& event, Micros recorded_at);
  const Registry& state() const { return state_; }

 private:
  Registry state_;
  uint64_t position_ = 0;
};

}  // namespace orgledger::testing

#include "tests/support/events.h"

#include <cstdio>
#include <cstdlib>

#include "replay/record.h"

namespace orgledger::testing {

Micros at(std::string_view rfc3339) {
  auto time = parse_time(rfc3339);
  if (!time.is_ok()) {
    std::fprintf(stderr, "bad time literal in a test: %s\n", std::string(rfc3339).c_str());
    std::abort();
  }
  return *time;
}

namespace {
template <typename Body>
fb::EventT event_of(Body body, std::string_view when) {
  fb::EventT event;
  event.occurred_at = at(when);
  event.body.Set(std::move(body));
  return event;
}
}  // namespace

fb::EventT account_created(std::string id, std::string email, std::string name, std::string org_id,
                           std::string_view when) {
  fb::AccountCreatedT body;
  body.account_id = std::move(id);
  body.email = std::move(email);
  body.name = std::move(name);
  body.org_id = std::move(org_id);
  return event_of(std::move(body), when);
}

fb::EventT organization_created(std::string org_id, std::string management_id,
                                std::string_view when, fb::FeatureSet feature_set) {
  fb::OrganizationCreatedT body;
  body.root_id = default_root_id(org_id);
  body.org_id = std::move(org_id);
  body.management_account_id = std::move(management_id);
  body.feature_set = feature_set;
  return event_of(std::move(body), when);
}

fb::EventT password_changed(std::string account_id, std::string_view when) {
  fb::PasswordChangedT body;
  body.account_id = std::move(account_id);
  return event_of(std::move(body), when);
}

fb::EventT mfa_enabled(std::string account_id, std::string device_id, std::string_view when) {
  fb::MfaEnabledT body;
  body.account_id = std::move(account_id);
  body.device_id = std::move(device_id);
  return event_of(std::move(body), when);
}

std::vector<fb::EventT> secure_account(const std::string& account_id, std::string_view when) {
  std::vector<fb::EventT> events;
  events.push_back(password_changed(account_id, when));
  events.push_back(mfa_enabled(account_id, "test-device", when));
  return events;
}

fb::EventT quota_set(std::string org_id, uint32_t max_accounts, std::string_view when) {
  fb::AccountQuotaSetT body;
  body.org_id = std::move(org_id);
  body.max_accounts = max_accounts;
  return event_of(std::move(body), when);
}

fb::EventT account_invited(std::string handshake_id, std::string org_id, std::string account_id,
                           std::string_view when) {
  fb::AccountInvitedT body;
  body.handshake_id = std::move(handshake_id);
  body.org_id = std::move(org_id);
  body.account_id = std::move(account_id);
  return event_of(std::move(body), when);
}

fb::EventT handshake_accepted(std::string handshake_id, std::string_view when) {
  fb::HandshakeAcceptedT body;
  body.handshake_id = std::move(handshake_id);
  return event_of(std::move(body), when);
}

fb::EventT handshake_declined(std::string handshake_id, std::string_view when) {
  fb::HandshakeDeclinedT body;
  body.handshake_id = std::move(handshake_id);
  return event_of(std::move(body), when);
}

fb::EventT handshake_canceled(std::string handshake_id, std::string_view when) {
  fb::HandshakeCanceledT body;
  body.handshake_id = std::move(handshake_id);
  return event_of(std::move(body), when);
}

fb::EventT account_removed(std::string org_id, std::string account_id, std::string_view when) {
  fb::AccountRemovedT body;
  body.org_id = std::move(org_id);
  body.account_id = std::move(account_id);
  return event_of(std::move(body), when);
}

fb::EventT account_left(std::string account_id, std::string_view when) {
  fb::AccountLeftT body;
  body.account_id = std::move(account_id);
  return event_of(std::move(body), when);
}

fb::EventT account_closed(std::string account_id, std::string_view when) {
  fb::AccountClosedT body;
  body.account_id = std::move(account_id);
  return event_of(std::move(body), when);
}

fb::EventT organization_deleted(std::string org_id, std::string_view when) {
  fb::OrganizationDeletedT body;
  body.org_id = std::move(org_id);
  return event_of(std::move(body), when);
}

namespace {
int64_t decimal(std::string_view text, int scale) {
  auto value = parse_decimal(text, scale);
  if (!value.is_ok()) {
    std::fprintf(stderr, "bad decimal literal in a test: %s\n", std::string(text).c_str());
    std::abort();
  }
  return *value;
}

Month month(std::string_view text) {
  auto value = parse_month(text);
  if (!value.is_ok()) {
    std::fprintf(stderr, "bad month literal in a test: %s\n", std::string(text).c_str());
    std::abort();
  }
  return *value;
}
}  // namespace

fb::EventT price_schedule_set(std::string usage_type, std::string service, std::string unit,
                              std::string_view effective_month, std::vector<TierText> tiers,
                              std::string_view when) {
  fb::PriceScheduleSetT body;
  body.usage_type = std::move(usage_type);
  body.service = std::move(service);
  body.unit = std::move(unit);
  body.effective_month = month(effective_month);
  for (const TierText& text : tiers) {
    auto tier = std::make_unique<fb::PriceTierT>();
    if (text.up_to) tier->up_to = decimal(*text.up_to, kQuantityScale);
    tier->unit_price = decimal(text.unit_price, kUnitPriceScale);
    body.tiers.push_back(std::move(tier));
  }
  return event_of(std::move(body), when);
}

fb::EventT usage_recorded(std::string account_id, std::string usage_type, std::string_view quantity,
                          std::string_view when) {
  fb::UsageRecordedT body;
  body.account_id = std::move(account_id);
  body.usage_type = std::move(usage_type);
  body.quantity = decimal(quantity, kQuantityScale);
  return event_of(std::move(body), when);
}

fb::EventT credit_granted(std::string credit_id, std::string account_id, std::string_view amount,
                          std::optional<std::string_view> expires_month, std::string_view when) {
  fb::CreditGrantedT body;
  body.credit_id = std::move(credit_id);
  body.account_id = std::move(account_id);
  body.amount = decimal(amount, kAmountScale);
  if (expires_month) body.expires_month = month(*expires_month);
  body.description = "credit " + body.credit_id;
  return event_of(std::move(body), when);
}

fb::EventT credit_sharing_set(std::string org_id, bool enabled, std::string_view when) {
  fb::CreditSharingSetT body;
  body.org_id = std::move(org_id);
  body.enabled = enabled;
  return event_of(std::move(body), when);
}

fb::EventT billing_period_closed(std::string_view month_text, std::string_view when) {
  fb::BillingPeriodClosedT body;
  body.month = month(month_text);
  return event_of(std::move(body), when);
}

fb::EventT ou_created(std::string ou_id, std::string parent_id, std::string name,
                      std::string_view when) {
  fb::OrganizationalUnitCreatedT body;
  body.ou_id = std::move(ou_id);
  body.parent_id = std::move(parent_id);
  body.name = std::move(name);
  return event_of(std::move(body), when);
}

fb::EventT account_moved(std::string account_id, std::string parent_id, std::string_view when) {
  fb::AccountMovedT body;
  body.account_id = std::move(account_id);
  body.parent_id = std::move(parent_id);
  return event_of(std::move(body), when);
}

fb::EventT policy_created(std::string policy_id, std::string org_id, std::string name,
                          std::string document, std::string_view when) {
  fb::PolicyCreatedT body;
  body.policy_id = std::move(policy_id);
  body.org_id = std::move(org_id);
  body.name = std::move(name);
  body.document = std::move(document);
  return event_of(std::move(body), when);
}

fb::EventT policy_attached(std::string policy_id, std::string target_id, std::string_view when) {
  fb::PolicyAttachedT body;
  body.policy_id = std::move(policy_id);
  body.target_id = std::move(target_id);
  return event_of(std::move(body), when);
}

fb::EventT policy_detached(std::string policy_id, std::string target_id, std::string_view when) {
  fb::PolicyDetachedT body;
  body.policy_id = std::move(policy_id);
  body.target_id = std::move(target_id);
  return event_of(std::move(body), when);
}

fb::EventT policy_deleted(std::string policy_id, std::string_view when) {
  fb::PolicyDeletedT body;
  body.policy_id = std::move(policy_id);
  return event_of(std::move(body), when);
}

fb::EventT all_features_requested(std::string org_id,
                                  std::vector<std::pair<std::string, std::string>> handshakes,
                                  std::string_view when) {
  fb::AllFeaturesEnableRequestedT body;
  body.org_id = std::move(org_id);
  for (auto& [handshake_id, account_id] : handshakes) {
    auto handshake = std::make_unique<fb::FeatureHandshakeT>();
    handshake->handshake_id = std::move(handshake_id);
    handshake->account_id = std::move(account_id);
    body.handshakes.push_back(std::move(handshake));
  }
  return event_of(std::move(body), when);
}

fb::EventT all_features_enabled(std::string org_id, std::string_view when) {
  fb::AllFeaturesEnabledT body;
  body.org_id = std::move(org_id);
  return event_of(std::move(body), when);
}

std::vector<fb::EventT> worked_example_events() {
  std::vector<fb::EventT> events;
  events.push_back(account_created("111111111111", "billing@example.com", "Example Corp", "",
                                   "2026-09-01T00:00:00Z"));
  for (fb::EventT& event : secure_account("111111111111", "2026-09-01T00:00:30Z")) {
    events.push_back(std::move(event));
  }
  events.push_back(organization_created("o-exampleorg1", "111111111111", "2026-09-01T00:01:00Z"));
  events.push_back(account_created("222222222222", "member@example.com", "Member", "o-exampleorg1",
                                   "2026-09-01T00:02:00Z"));
  events.push_back(price_schedule_set("DataTransfer-Out-GB", "ec2", "GB", "2026-10",
                                      {{"10240", "0.17"}, {std::nullopt, "0.13"}},
                                      "2026-09-20T00:00:00Z"));
  events.push_back(
      usage_recorded("111111111111", "DataTransfer-Out-GB", "8192", "2026-10-03T10:00:00Z"));
  events.push_back(
      usage_recorded("222222222222", "DataTransfer-Out-GB", "4096", "2026-10-05T10:00:00Z"));
  return events;
}

Status Harness::append(const fb::EventT& event) {
  return append_recorded_at(event, event.occurred_at);
}

Status Harness::append_recorded_at(const fb::EventT& event, Micros recorded_at) {
  const std::string bytes = pack_event(event).bytes;
  const fb::Event* packed = flatbuffers::GetRoot<fb::Event>(bytes.data());
  const EventContext context{position_ + 1, recorded_at, "test"};
  Status status = validate(state_, *packed, context);
  if (status.is_ok()) {
    apply(state_, *packed, context);
    ++position_;
  }
  return status;
}

}  // namespace orgledger::testing

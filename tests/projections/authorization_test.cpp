// Who may append what and read what (DOMAIN.md "Securing the management account").
#include "projections/authorization.h"

#include <doctest/doctest.h>

#include <algorithm>

#include "replay/record.h"
#include "tests/support/events.h"
#include "tests/support/status_matchers.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

constexpr const char* kOrg = "o-exampleorg1";
constexpr const char* kPayer = "111111111111";
constexpr const char* kMember = "222222222222";
constexpr const char* kInvitee = "333333333333";
constexpr const char* kOther = "444444444444";  // the payer of another organization

const Principal kPayerPrincipal{Role::kAccount, kPayer};
const Principal kMemberPrincipal{Role::kAccount, kMember};
const Principal kInviteePrincipal{Role::kAccount, kInvitee};
const Principal kOtherPrincipal{Role::kAccount, kOther};
const Principal kAdmin{Role::kAdmin, "ops"};
const Principal kIngest{Role::kIngest, "meter"};
const Principal kAuditor{Role::kAuditor, "audit"};

// An organization with a member, a pending invitation, a unit and a policy; and another
// organization managed by kOther.
Harness organization() {
  Harness log;
  for (const auto& [id, email] :
       {std::pair{kPayer, "billing@example.com"}, std::pair{kOther, "other@example.com"}}) {
    REQUIRE_OK(log.append(account_created(id, email, "Payer", "", "2026-09-01T00:00:00Z")));
    for (const fb::EventT& event : secure_account(id, "2026-09-01T00:00:00Z")) {
      REQUIRE_OK(log.append(event));
    }
  }
  REQUIRE_OK(log.append(organization_created(kOrg, kPayer, "2026-09-01T00:01:00Z")));
  REQUIRE_OK(log.append(organization_created("o-otherorg001", kOther, "2026-09-01T00:01:00Z")));
  REQUIRE_OK(log.append(
      account_created(kMember, "m@example.com", "Member", kOrg, "2026-09-01T00:02:00Z")));
  REQUIRE_OK(log.append(
      account_created(kInvitee, "i@example.com", "Invitee", "", "2026-09-01T00:02:00Z")));
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kInvitee, "2026-09-02T00:00:00Z")));
  REQUIRE_OK(log.append(policy_created("p-denyec2all", kOrg, "deny",
                                       R"([{"effect":"Deny","services":["ec2"]}])",
                                       "2026-09-02T00:00:00Z")));
  return log;
}

// authorize_append on the packed form of `event`.
Status authorize(const Registry& state, const fb::EventT& event, const Principal& principal) {
  const std::string packed = pack_event(event).bytes;
  return authorize_append(state, *flatbuffers::GetRoot<fb::Event>(packed.data()), principal);
}

void allowed_only_for(const Registry& state, const fb::EventT& event,
                      std::initializer_list<const Principal*> allowed) {
  for (const Principal* principal : {&kAdmin, &kIngest, &kAuditor, &kPayerPrincipal,
                                     &kMemberPrincipal, &kInviteePrincipal, &kOtherPrincipal}) {
    INFO("principal ", principal->actor());
    const bool expected = std::find(allowed.begin(), allowed.end(), principal) != allowed.end();
    const Status status = authorize(state, event, *principal);
    if (expected) {
      CHECK_OK(status);
    } else {
      CHECK_FAILS_WITH(status, Code::kPermissionDenied, Reason::kAccessDenied);
    }
  }
}

}  // namespace

TEST_CASE("authorization: only the management account changes its organization") {
  Harness log = organization();
  const Registry& state = log.state();
  allowed_only_for(state, quota_set(kOrg, 5, "2026-09-03T00:00:00Z"), {&kAdmin, &kPayerPrincipal});
  allowed_only_for(state, account_invited("h-new0000001", kOrg, kOther, "2026-09-03T00:00:00Z"),
                   {&kAdmin, &kPayerPrincipal});
  allowed_only_for(state, account_removed(kOrg, kMember, "2026-09-03T00:00:00Z"),
                   {&kAdmin, &kPayerPrincipal});
  allowed_only_for(state, policy_attached("p-denyec2all", kMember, "2026-09-03T00:00:00Z"),
                   {&kAdmin, &kPayerPrincipal});
  allowed_only_for(state,
                   ou_created("ou-exampleorg1-x", "r-exampleorg1", "X", "2026-09-03T00:00:00Z"),
                   {&kAdmin, &kPayerPrincipal});
  allowed_only_for(
      state, account_created("555555555555", "n@example.com", "New", kOrg, "2026-09-03T00:00:00Z"),
      {&kAdmin, &kPayerPrincipal});
  // Another organization's management account has no say here.
  allowed_only_for(state, organization_deleted(kOrg, "2026-09-03T00:00:00Z"),
                   {&kAdmin, &kPayerPrincipal});
}

TEST_CASE("authorization: only the invitee answers, only the sender cancels") {
  Harness log = organization();
  const Registry& state = log.state();
  allowed_only_for(state, handshake_accepted("h-invite00001", "2026-09-03T00:00:00Z"),
                   {&kAdmin, &kInviteePrincipal});
  allowed_only_for(state, handshake_declined("h-invite00001", "2026-09-03T00:00:00Z"),
                   {&kAdmin, &kInviteePrincipal});
  allowed_only_for(state, handshake_canceled("h-invite00001", "2026-09-03T00:00:00Z"),
                   {&kAdmin, &kPayerPrincipal});
  // An unknown handshake concerns no one: only an operator gets as far as NotFound.
  allowed_only_for(state, handshake_accepted("h-unknown0001", "2026-09-03T00:00:00Z"), {&kAdmin});
}

TEST_CASE("authorization: an account acts for itself only") {
  Harness log = organization();
  const Registry& state = log.state();
  allowed_only_for(state, account_left(kMember, "2026-09-10T00:00:00Z"),
                   {&kAdmin, &kMemberPrincipal});
  allowed_only_for(state, account_closed(kInvitee, "2026-09-10T00:00:00Z"),
                   {&kAdmin, &kInviteePrincipal});
  allowed_only_for(state, password_changed(kMember, "2026-09-10T00:00:00Z"),
                   {&kAdmin, &kMemberPrincipal});
  allowed_only_for(state, mfa_enabled(kMember, "phone", "2026-09-10T00:00:00Z"),
                   {&kAdmin, &kMemberPrincipal});
  allowed_only_for(state, organization_created("o-newneworg01", kInvitee, "2026-09-10T00:00:00Z"),
                   {&kAdmin, &kInviteePrincipal});
}

TEST_CASE("authorization: prices and usage are operator work, and ingest does nothing else") {
  Harness log = organization();
  const Registry& state = log.state();
  allowed_only_for(state,
                   usage_recorded(kMember, "DataTransfer-Out-GB", "1", "2026-09-10T00:00:00Z"),
                   {&kAdmin, &kIngest});
  allowed_only_for(state,
                   price_schedule_set("X", "ec2", "GB", "2026-10", {{std::nullopt, "0.1"}},
                                      "2026-09-10T00:00:00Z"),
                   {&kAdmin, &kIngest});
  allowed_only_for(
      state, credit_granted("c-1", kMember, "10", std::nullopt, "2026-09-10T00:00:00Z"), {&kAdmin});
  allowed_only_for(state, billing_period_closed("2026-09", "2026-10-01T00:00:00Z"), {&kAdmin});
  allowed_only_for(
      state, account_created("555555555555", "n@example.com", "New", "", "2026-09-03T00:00:00Z"),
      {&kAdmin});
}

TEST_CASE("authorization: reads") {
  Harness log = organization();
  const Registry& state = log.state();
  CHECK_OK(authorize_read_account(state, kMemberPrincipal, kMember));
  CHECK_OK(authorize_read_account(state, kPayerPrincipal, kMember));
  CHECK_OK(authorize_read_account(state, kAuditor, kMember));
  CHECK_FAILS_WITH(authorize_read_account(state, kMemberPrincipal, kPayer), Code::kPermissionDenied,
                   Reason::kAccessDenied);
  CHECK_FAILS_WITH(authorize_read_account(state, kOtherPrincipal, kMember), Code::kPermissionDenied,
                   Reason::kAccessDenied);
  // A pending invitee is not a member yet: the payer cannot read it.
  CHECK_FAILS_WITH(authorize_read_account(state, kPayerPrincipal, kInvitee),
                   Code::kPermissionDenied, Reason::kAccessDenied);
  CHECK_FAILS_WITH(authorize_read_account(state, kIngest, kMember), Code::kPermissionDenied,
                   Reason::kAccessDenied);
  CHECK_OK(authorize_read_organization(state, kPayerPrincipal, kOrg));
  CHECK_FAILS_WITH(authorize_read_organization(state, kMemberPrincipal, kOrg),
                   Code::kPermissionDenied, Reason::kAccessDenied);
  CHECK_FAILS_WITH(authorize_read_organization(state, kOtherPrincipal, kOrg),
                   Code::kPermissionDenied, Reason::kAccessDenied);
  CHECK_OK(authorize_read_bill(kPayerPrincipal, kPayer, ""));
  CHECK_OK(authorize_read_bill(kMemberPrincipal, kPayer, kMember));
  CHECK_FAILS_WITH(authorize_read_bill(kMemberPrincipal, kPayer, ""), Code::kPermissionDenied,
                   Reason::kAccessDenied);
  CHECK_FAILS_WITH(authorize_read_bill(kMemberPrincipal, kPayer, kInvitee), Code::kPermissionDenied,
                   Reason::kAccessDenied);
  CHECK_OK(authorize_read_log(kAuditor));
  CHECK_FAILS_WITH(authorize_read_log(kPayerPrincipal), Code::kPermissionDenied,
                   Reason::kAccessDenied);
}

TEST_CASE("authorization: every change names who appended it") {
  Harness log = organization();
  const Account& invitee = *log.state().find_account(kInvitee);
  // Created, then invited: both are changes to it.
  REQUIRE(invitee.changes.size() == 2);
  CHECK(invitee.changes[0].type == fb::EventBody::AccountCreated);
  CHECK(invitee.changes[1].type == fb::EventBody::AccountInvited);
  CHECK(log.state().find_organization(kOrg)->changes.size() ==
        4);  // created, member, invite, policy
}

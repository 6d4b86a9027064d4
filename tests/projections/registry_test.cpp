// DOMAIN.md "Organizations and accounts": each rule holding, and each error it names.
#include "projections/registry.h"

#include <doctest/doctest.h>

#include "tests/support/events.h"
#include "tests/support/status_matchers.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

constexpr const char* kOrg = "o-exampleorg1";
constexpr const char* kManagement = "111111111111";
constexpr const char* kMember = "222222222222";
constexpr const char* kOutsider = "333333333333";

// Sets a password and enables MFA for `account_id` (the stored facts).
void secure(Harness& log, const std::string& account_id, std::string_view when) {
  for (const fb::EventT& event : secure_account(account_id, when)) REQUIRE_OK(log.append(event));
}

// A management account with its organization (created 2026-10-01) and one standalone account.
Harness organization_with_outsider() {
  Harness log;
  REQUIRE_OK(log.append(
      account_created(kManagement, "billing@example.com", "Example", "", "2026-09-01T00:00:00Z")));
  secure(log, kManagement, "2026-09-01T00:01:00Z");
  REQUIRE_OK(log.append(organization_created(kOrg, kManagement, "2026-10-01T00:00:00Z")));
  REQUIRE_OK(log.append(
      account_created(kOutsider, "ops@outside.io", "Outside", "", "2026-09-15T00:00:00Z")));
  return log;
}

std::string account_id(int n) {
  std::string id = std::to_string(n);
  return std::string(12 - id.size(), '9') + id;
}

std::string email_of(int n) { return "user" + std::to_string(n) + "@example.com"; }

}  // namespace

// ---- AccountCreated ----------------------------------------------------------------------------

TEST_CASE("account: a standalone account is ACTIVE, in no organization, and pays for itself") {
  Harness log;
  CHECK_OK(log.append(
      account_created(kOutsider, "ops@outside.io", "Outside", "", "2026-09-15T00:00:00Z")));
  const Account* account = log.state().find_account(kOutsider);
  REQUIRE(account != nullptr);
  CHECK(account->status == AccountStatus::kActive);
  CHECK(account->current_membership() == nullptr);
  CHECK(log.state().payer_at(kOutsider, at("2026-10-01T00:00:00Z")) == kOutsider);
}

TEST_CASE("account: created with org_id joins that organization as CREATED, the payer paying") {
  Harness log = organization_with_outsider();
  CHECK_OK(log.append(
      account_created(kMember, "member@example.com", "Member", kOrg, "2026-10-02T00:00:00Z")));
  const Membership* membership = log.state().find_account(kMember)->current_membership();
  REQUIRE(membership != nullptr);
  CHECK(membership->org_id == kOrg);
  CHECK(membership->method == JoinedMethod::kCreated);
  CHECK(membership->joined_at == at("2026-10-02T00:00:00Z"));
  CHECK(log.state().payer_at(kMember, at("2026-10-02T00:00:00Z")) == kManagement);
  CHECK(log.state().find_organization(kOrg)->member_ids.contains(kMember));
}

TEST_CASE("account: an id that is not 12 digits fails with InvalidInput") {
  Harness log;
  CHECK_FAILS_WITH(log.append(account_created("1234567890123", "a@example.com", "A", "",
                                              "2026-09-01T00:00:00Z")),
                   Code::kInvalidArgument, Reason::kInvalidInput);
  CHECK_FAILS_WITH(
      log.append(account_created("12345678901a", "a@example.com", "A", "", "2026-09-01T00:00:00Z")),
      Code::kInvalidArgument, Reason::kInvalidInput);
  CHECK(log.state().accounts.empty());
}

TEST_CASE("account: emails need 6-64 characters, one @ and a dot in the domain") {
  Harness log;
  for (const char* bad : {"a@b.c", "no-at-sign.example.com", "two@@example.com", "a@b@example.com",
                          "user@localhost", "user@.example", "user@example.", "@example.com"}) {
    INFO("email: ", bad);
    CHECK_FAILS_WITH(log.append(account_created(kMember, bad, "A", "", "2026-09-01T00:00:00Z")),
                     Code::kInvalidArgument, Reason::kInvalidInput);
  }
  const std::string too_long = std::string(53, 'x') + "@example.com";  // 65 characters
  CHECK_FAILS_WITH(log.append(account_created(kMember, too_long, "A", "", "2026-09-01T00:00:00Z")),
                   Code::kInvalidArgument, Reason::kInvalidInput);
  CHECK_OK(log.append(account_created(kMember, "ab@c.io", "A", "", "2026-09-01T00:00:00Z")));
}

TEST_CASE("account: names are 1 to 128 characters") {
  Harness log;
  CHECK_FAILS_WITH(
      log.append(account_created(kMember, "a@example.com", "", "", "2026-09-01T00:00:00Z")),
      Code::kInvalidArgument, Reason::kInvalidInput);
  CHECK_FAILS_WITH(log.append(account_created(kMember, "a@example.com", std::string(129, 'n'), "",
                                              "2026-09-01T00:00:00Z")),
                   Code::kInvalidArgument, Reason::kInvalidInput);
  CHECK_OK(log.append(account_created(kMember, "a@example.com", std::string(128, 'n'), "",
                                      "2026-09-01T00:00:00Z")));
}

TEST_CASE("account: creating an existing id fails with DuplicateAccount") {
  Harness log = organization_with_outsider();
  CHECK_FAILS_WITH(log.append(account_created(kOutsider, "other@outside.io", "Again", "",
                                              "2026-10-05T00:00:00Z")),
                   Code::kAlreadyExists, Reason::kDuplicateAccount);
  CHECK(log.state().find_account(kOutsider)->email == "ops@outside.io");
}

TEST_CASE("account: an email used by another account fails with EmailAlreadyExists, any case") {
  Harness log = organization_with_outsider();
  CHECK_FAILS_WITH(
      log.append(account_created(kMember, "OPS@Outside.io", "Copy", "", "2026-10-05T00:00:00Z")),
      Code::kAlreadyExists, Reason::kEmailAlreadyExists);
  CHECK(log.state().find_account(kMember) == nullptr);
}

TEST_CASE("account: creating into an unknown organization fails with AWSOrganizationsNotInUse") {
  Harness log;
  CHECK_FAILS_WITH(log.append(account_created(kMember, "m@example.com", "M", "o-doesnotexist",
                                              "2026-10-05T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kAWSOrganizationsNotInUse);
  CHECK(log.state().accounts.empty());
}

TEST_CASE(
    "account: the quota of 10 counts members, the 11th fails with ACCOUNT_NUMBER_LIMIT_EXCEEDED") {
  Harness log = organization_with_outsider();
  for (int n = 1; n <= 9; ++n) {  // the management account is the 10th
    REQUIRE_OK(log.append(
        account_created(account_id(n), email_of(n), "Member", kOrg, "2026-10-02T00:00:00Z")));
  }
  CHECK_FAILS_WITH_DETAIL(log.append(account_created(account_id(10), email_of(10), "Member", kOrg,
                                                     "2026-10-02T00:00:00Z")),
                          Code::kResourceExhausted, Reason::kConstraintViolation,
                          "ACCOUNT_NUMBER_LIMIT_EXCEEDED");
  CHECK(log.state().quota_usage(*log.state().find_organization(kOrg), at("2026-10-03T00:00:00Z")) ==
        10);
}

TEST_CASE("account: pending invitations count toward the quota until they expire") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(quota_set(kOrg, 2, "2026-10-01T01:00:00Z")));
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  CHECK_FAILS_WITH_DETAIL(
      log.append(account_created(kMember, "m@example.com", "M", kOrg, "2026-10-03T00:00:00Z")),
      Code::kResourceExhausted, Reason::kConstraintViolation, "ACCOUNT_NUMBER_LIMIT_EXCEEDED");
  // 15 days later the invitation has expired and no longer holds a place.
  CHECK_OK(
      log.append(account_created(kMember, "m@example.com", "M", kOrg, "2026-10-17T00:00:00Z")));
}

TEST_CASE("quota: AccountQuotaSet raises the limit") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(quota_set(kOrg, 11, "2026-10-01T01:00:00Z")));
  for (int n = 1; n <= 10; ++n) {
    CHECK_OK(log.append(
        account_created(account_id(n), email_of(n), "Member", kOrg, "2026-10-02T00:00:00Z")));
  }
  CHECK(log.state().find_organization(kOrg)->member_ids.size() == 11);
}

TEST_CASE("quota: setting it on an unknown organization fails with AWSOrganizationsNotInUse") {
  Harness log;
  CHECK_FAILS_WITH(log.append(quota_set("o-doesnotexist", 20, "2026-10-01T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kAWSOrganizationsNotInUse);
}

TEST_CASE("quota: zero accounts is refused") {
  Harness log = organization_with_outsider();
  CHECK_FAILS_WITH(log.append(quota_set(kOrg, 0, "2026-10-01T01:00:00Z")), Code::kInvalidArgument,
                   Reason::kInvalidInput);
}

// ---- OrganizationCreated -----------------------------------------------------------------------

TEST_CASE("organization: the management account becomes the payer and a member of its own") {
  Harness log = organization_with_outsider();
  const Organization* organization = log.state().find_organization(kOrg);
  REQUIRE(organization != nullptr);
  CHECK(organization->root_id == "r-exampleorg1");
  CHECK(organization->feature_set == fb::FeatureSet::ALL);
  CHECK(organization->member_ids.contains(kManagement));
  const Membership* membership = log.state().find_account(kManagement)->current_membership();
  REQUIRE(membership != nullptr);
  CHECK(membership->payer_id == kManagement);
  CHECK(membership->joined_at == at("2026-10-01T00:00:00Z"));
}

TEST_CASE("organization: the CONSOLIDATED_BILLING feature set is kept") {
  Harness log;
  REQUIRE_OK(log.append(
      account_created(kManagement, "billing@example.com", "E", "", "2026-09-01T00:00:00Z")));
  secure(log, kManagement, "2026-09-01T00:01:00Z");
  CHECK_OK(log.append(organization_created(kOrg, kManagement, "2026-10-01T00:00:00Z",
                                           fb::FeatureSet::CONSOLIDATED_BILLING)));
  CHECK(log.state().find_organization(kOrg)->feature_set == fb::FeatureSet::CONSOLIDATED_BILLING);
}

TEST_CASE("organization: an unknown management account fails with AccountNotFound") {
  Harness log;
  CHECK_FAILS_WITH(log.append(organization_created(kOrg, kManagement, "2026-10-01T00:00:00Z")),
                   Code::kNotFound, Reason::kAccountNotFound);
  CHECK(log.state().organizations.empty());
}

TEST_CASE("organization: a closed management account fails with AccountSuspended") {
  Harness log;
  REQUIRE_OK(log.append(
      account_created(kManagement, "billing@example.com", "E", "", "2026-09-01T00:00:00Z")));
  REQUIRE_OK(log.append(account_closed(kManagement, "2026-09-02T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(organization_created(kOrg, kManagement, "2026-10-01T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kAccountSuspended);
}

TEST_CASE("organization: a management account already in one fails with AlreadyInOrganization") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(
      log.append(account_created(kMember, "m@example.com", "M", kOrg, "2026-10-02T00:00:00Z")));
  CHECK_FAILS_WITH(
      log.append(organization_created("o-secondorg01", kMember, "2026-10-03T00:00:00Z")),
      Code::kFailedPrecondition, Reason::kAlreadyInOrganization);
  CHECK_FAILS_WITH(
      log.append(organization_created("o-secondorg01", kManagement, "2026-10-03T00:00:00Z")),
      Code::kFailedPrecondition, Reason::kAlreadyInOrganization);
}

TEST_CASE("organization: an id already used fails with DuplicateOrganization") {
  Harness log = organization_with_outsider();
  CHECK_FAILS_WITH(log.append(organization_created(kOrg, kOutsider, "2026-10-03T00:00:00Z")),
                   Code::kAlreadyExists, Reason::kDuplicateOrganization);
}

TEST_CASE("organization: ids must match o- plus 10 to 32 lower-case letters or digits") {
  Harness log;
  REQUIRE_OK(log.append(
      account_created(kManagement, "billing@example.com", "E", "", "2026-09-01T00:00:00Z")));
  for (const char* bad : {"o-short", "o-UPPERCASE01", "x-exampleorg1",
                          "o-"
                          "abcdefghijklmnopqrstuvwxyz0123456"}) {
    INFO("org id: ", bad);
    CHECK_FAILS_WITH(log.append(organization_created(bad, kManagement, "2026-10-01T00:00:00Z")),
                     Code::kInvalidArgument, Reason::kInvalidInput);
  }
}

// ---- AccountInvited ----------------------------------------------------------------------------

TEST_CASE("invite: a REQUESTED handshake that expires 15 days after occurred_at") {
  Harness log = organization_with_outsider();
  CHECK_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  const Handshake* handshake = log.state().find_handshake("h-invite00001");
  REQUIRE(handshake != nullptr);
  CHECK(handshake->state == HandshakeState::kRequested);
  CHECK(handshake->expires_at == at("2026-10-17T00:00:00Z"));
  CHECK(handshake->state_at(at("2026-10-16T23:59:59Z")) == HandshakeState::kRequested);
  CHECK(handshake->state_at(at("2026-10-17T00:00:00Z")) == HandshakeState::kExpired);
}

TEST_CASE("invite: a second pending invite to the same account fails with DuplicateHandshake") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  CHECK_FAILS_WITH(
      log.append(account_invited("h-invite00002", kOrg, kOutsider, "2026-10-03T00:00:00Z")),
      Code::kAlreadyExists, Reason::kDuplicateHandshake);
  // Once the first has expired, a new invitation may go out.
  CHECK_OK(log.append(account_invited("h-invite00002", kOrg, kOutsider, "2026-10-18T00:00:00Z")));
}

TEST_CASE("invite: reusing a handshake id fails with DuplicateHandshake") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(
      log.append(account_created(kMember, "m@elsewhere.io", "M", "", "2026-09-01T00:00:00Z")));
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  CHECK_FAILS_WITH(
      log.append(account_invited("h-invite00001", kOrg, kMember, "2026-10-03T00:00:00Z")),
      Code::kAlreadyExists, Reason::kDuplicateHandshake);
}

TEST_CASE("invite: an account already in an organization fails with ALREADY_IN_AN_ORGANIZATION") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(
      log.append(account_created(kMember, "m@example.com", "M", kOrg, "2026-10-02T00:00:00Z")));
  CHECK_FAILS_WITH_DETAIL(
      log.append(account_invited("h-invite00001", kOrg, kMember, "2026-10-03T00:00:00Z")),
      Code::kFailedPrecondition, Reason::kHandshakeConstraintViolation,
      "ALREADY_IN_AN_ORGANIZATION");
}

TEST_CASE(
    "invite: a full quota fails with HandshakeConstraintViolation/ACCOUNT_NUMBER_LIMIT_EXCEEDED") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(quota_set(kOrg, 1, "2026-10-01T01:00:00Z")));
  CHECK_FAILS_WITH_DETAIL(
      log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")),
      Code::kResourceExhausted, Reason::kHandshakeConstraintViolation,
      "ACCOUNT_NUMBER_LIMIT_EXCEEDED");
  CHECK(log.state().handshakes.empty());
}

TEST_CASE("invite: an unknown account fails with AccountNotFound") {
  Harness log = organization_with_outsider();
  CHECK_FAILS_WITH(
      log.append(account_invited("h-invite00001", kOrg, "999999999999", "2026-10-02T00:00:00Z")),
      Code::kNotFound, Reason::kAccountNotFound);
}

TEST_CASE("invite: an unknown organization fails with AWSOrganizationsNotInUse") {
  Harness log = organization_with_outsider();
  CHECK_FAILS_WITH(log.append(account_invited("h-invite00001", "o-doesnotexist", kOutsider,
                                              "2026-10-02T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kAWSOrganizationsNotInUse);
}

// ---- Handshake transitions ---------------------------------------------------------------------

TEST_CASE("handshake: accepting joins the account as INVITED, the payer paying from that instant") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  CHECK_OK(log.append(handshake_accepted("h-invite00001", "2026-10-10T12:00:00Z")));
  CHECK(log.state().find_handshake("h-invite00001")->state == HandshakeState::kAccepted);
  const Membership* membership = log.state().find_account(kOutsider)->current_membership();
  REQUIRE(membership != nullptr);
  CHECK(membership->method == JoinedMethod::kInvited);
  CHECK(log.state().payer_at(kOutsider, at("2026-10-10T11:59:59Z")) == kOutsider);
  CHECK(log.state().payer_at(kOutsider, at("2026-10-10T12:00:00Z")) == kManagement);
}

TEST_CASE("handshake: an unknown id fails with HandshakeNotFound") {
  Harness log = organization_with_outsider();
  CHECK_FAILS_WITH(log.append(handshake_accepted("h-nosuchhandshake", "2026-10-10T00:00:00Z")),
                   Code::kNotFound, Reason::kHandshakeNotFound);
  CHECK_FAILS_WITH(log.append(handshake_declined("h-nosuchhandshake", "2026-10-10T00:00:00Z")),
                   Code::kNotFound, Reason::kHandshakeNotFound);
  CHECK_FAILS_WITH(log.append(handshake_canceled("h-nosuchhandshake", "2026-10-10T00:00:00Z")),
                   Code::kNotFound, Reason::kHandshakeNotFound);
}

TEST_CASE("handshake: accepting an accepted one fails with HandshakeAlreadyInState") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  REQUIRE_OK(log.append(handshake_accepted("h-invite00001", "2026-10-03T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(handshake_accepted("h-invite00001", "2026-10-04T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kHandshakeAlreadyInState);
}

TEST_CASE("handshake: accepting a declined invite fails with InvalidHandshakeTransition") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  REQUIRE_OK(log.append(handshake_declined("h-invite00001", "2026-10-03T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(handshake_accepted("h-invite00001", "2026-10-04T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kInvalidHandshakeTransition);
  CHECK(log.state().find_account(kOutsider)->current_membership() == nullptr);
}

TEST_CASE("handshake: accepting a canceled invite fails with InvalidHandshakeTransition") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  REQUIRE_OK(log.append(handshake_canceled("h-invite00001", "2026-10-03T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(handshake_accepted("h-invite00001", "2026-10-04T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kInvalidHandshakeTransition);
}

TEST_CASE("handshake: accepting after expiry fails with InvalidHandshakeTransition") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(handshake_accepted("h-invite00001", "2026-10-17T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kInvalidHandshakeTransition);
  CHECK_OK(log.append(handshake_accepted("h-invite00001", "2026-10-16T23:59:59Z")));
}

TEST_CASE(
    "handshake: a management account of another organization cannot accept "
    "(MasterCannotLeaveOrganization)") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  secure(log, kOutsider, "2026-10-02T00:00:00Z");
  REQUIRE_OK(log.append(organization_created("o-outsiderorg1", kOutsider, "2026-10-03T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(handshake_accepted("h-invite00001", "2026-10-04T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kMasterCannotLeaveOrganization);
}

TEST_CASE(
    "handshake: declining twice fails with HandshakeAlreadyInState, declining an accepted "
    "one with InvalidHandshakeTransition") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  REQUIRE_OK(log.append(handshake_declined("h-invite00001", "2026-10-03T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(handshake_declined("h-invite00001", "2026-10-04T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kHandshakeAlreadyInState);
  REQUIRE_OK(log.append(account_invited("h-invite00002", kOrg, kOutsider, "2026-10-05T00:00:00Z")));
  REQUIRE_OK(log.append(handshake_accepted("h-invite00002", "2026-10-06T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(handshake_declined("h-invite00002", "2026-10-07T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kInvalidHandshakeTransition);
}

TEST_CASE("handshake: canceling a canceled one fails with HandshakeAlreadyInState") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  CHECK_OK(log.append(handshake_canceled("h-invite00001", "2026-10-03T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(handshake_canceled("h-invite00001", "2026-10-04T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kHandshakeAlreadyInState);
}

TEST_CASE("handshake: canceling an accepted one fails with InvalidHandshakeTransition") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  REQUIRE_OK(log.append(handshake_accepted("h-invite00001", "2026-10-03T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(handshake_canceled("h-invite00001", "2026-10-04T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kInvalidHandshakeTransition);
  CHECK(log.state().find_account(kOutsider)->current_membership() != nullptr);
}

// ---- AccountRemoved / AccountLeft --------------------------------------------------------------

TEST_CASE("remove: a removed member is standalone from occurred_at on") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(
      log.append(account_created(kMember, "m@example.com", "M", kOrg, "2026-10-02T00:00:00Z")));
  CHECK_OK(log.append(account_removed(kOrg, kMember, "2026-10-15T00:00:00Z")));
  const Account* member = log.state().find_account(kMember);
  CHECK(member->current_membership() == nullptr);
  CHECK(member->memberships.back().left_at == at("2026-10-15T00:00:00Z"));
  CHECK(log.state().payer_at(kMember, at("2026-10-14T23:59:59Z")) == kManagement);
  CHECK(log.state().payer_at(kMember, at("2026-10-15T00:00:00Z")) == kMember);
  CHECK_FALSE(log.state().find_organization(kOrg)->member_ids.contains(kMember));
}

TEST_CASE("remove: the management account cannot be removed (MasterCannotLeaveOrganization)") {
  Harness log = organization_with_outsider();
  CHECK_FAILS_WITH(log.append(account_removed(kOrg, kManagement, "2026-10-15T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kMasterCannotLeaveOrganization);
}

TEST_CASE("remove: an unknown account, or one that is not a member, fails with AccountNotFound") {
  Harness log = organization_with_outsider();
  CHECK_FAILS_WITH(log.append(account_removed(kOrg, "999999999999", "2026-10-15T00:00:00Z")),
                   Code::kNotFound, Reason::kAccountNotFound);
  CHECK_FAILS_WITH(log.append(account_removed(kOrg, kOutsider, "2026-10-15T00:00:00Z")),
                   Code::kNotFound, Reason::kAccountNotFound);
}

TEST_CASE("leave: the management account cannot leave (MasterCannotLeaveOrganization)") {
  Harness log = organization_with_outsider();
  CHECK_FAILS_WITH(log.append(account_left(kManagement, "2026-10-15T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kMasterCannotLeaveOrganization);
}

TEST_CASE("leave: a CREATED account younger than 4 days fails with WAIT_PERIOD_ACTIVE") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(
      log.append(account_created(kMember, "m@example.com", "M", kOrg, "2026-10-02T00:00:00Z")));
  CHECK_FAILS_WITH_DETAIL(log.append(account_left(kMember, "2026-10-05T23:59:59Z")),
                          Code::kFailedPrecondition, Reason::kConstraintViolation,
                          "WAIT_PERIOD_ACTIVE");
  CHECK_OK(log.append(account_left(kMember, "2026-10-06T00:00:00Z")));
  CHECK(log.state().payer_at(kMember, at("2026-10-06T00:00:00Z")) == kMember);
}

TEST_CASE("leave: an INVITED account may leave at once") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  REQUIRE_OK(log.append(handshake_accepted("h-invite00001", "2026-10-02T01:00:00Z")));
  CHECK_OK(log.append(account_left(kOutsider, "2026-10-02T02:00:00Z")));
  CHECK(log.state().find_account(kOutsider)->current_membership() == nullptr);
}

TEST_CASE("leave: an account that is in no organization fails with AccountNotFound") {
  Harness log = organization_with_outsider();
  CHECK_FAILS_WITH(log.append(account_left(kOutsider, "2026-10-15T00:00:00Z")), Code::kNotFound,
                   Reason::kAccountNotFound);
  CHECK_FAILS_WITH(log.append(account_left("999999999999", "2026-10-15T00:00:00Z")),
                   Code::kNotFound, Reason::kAccountNotFound);
}

// ---- AccountClosed -----------------------------------------------------------------------------

TEST_CASE(
    "close: a closed account is SUSPENDED, stays listed and keeps counting toward the quota") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(
      log.append(account_created(kMember, "m@example.com", "M", kOrg, "2026-10-02T00:00:00Z")));
  CHECK_OK(log.append(account_closed(kMember, "2026-10-20T00:00:00Z")));
  const Account* member = log.state().find_account(kMember);
  CHECK(member->status == AccountStatus::kSuspended);
  CHECK(member->closed_at == at("2026-10-20T00:00:00Z"));
  const Organization& organization = *log.state().find_organization(kOrg);
  CHECK(organization.member_ids.contains(kMember));
  CHECK(log.state().quota_usage(organization, at("2026-10-21T00:00:00Z")) == 2);
}

TEST_CASE("close: the management account cannot be closed (CANNOT_CLOSE_MANAGEMENT_ACCOUNT)") {
  Harness log = organization_with_outsider();
  CHECK_FAILS_WITH_DETAIL(log.append(account_closed(kManagement, "2026-10-20T00:00:00Z")),
                          Code::kFailedPrecondition, Reason::kConstraintViolation,
                          "CANNOT_CLOSE_MANAGEMENT_ACCOUNT");
  CHECK(log.state().find_account(kManagement)->status == AccountStatus::kActive);
}

TEST_CASE("close: closing twice fails with AccountAlreadyClosed") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(account_closed(kOutsider, "2026-10-20T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(account_closed(kOutsider, "2026-10-21T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kAccountAlreadyClosed);
}

TEST_CASE("close: an unknown account fails with AccountNotFound") {
  Harness log;
  CHECK_FAILS_WITH(log.append(account_closed(kOutsider, "2026-10-20T00:00:00Z")), Code::kNotFound,
                   Reason::kAccountNotFound);
}

TEST_CASE("close: a closed account cannot be invited or accept (AccountSuspended)") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  REQUIRE_OK(log.append(account_closed(kOutsider, "2026-10-03T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(handshake_accepted("h-invite00001", "2026-10-04T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kAccountSuspended);
  REQUIRE_OK(log.append(account_created(kMember, "m@else.io", "M", "", "2026-10-01T00:00:00Z")));
  REQUIRE_OK(log.append(account_closed(kMember, "2026-10-02T00:00:00Z")));
  CHECK_FAILS_WITH(
      log.append(account_invited("h-invite00002", kOrg, kMember, "2026-10-05T00:00:00Z")),
      Code::kFailedPrecondition, Reason::kAccountSuspended);
}

// ---- OrganizationDeleted -----------------------------------------------------------------------

TEST_CASE(
    "delete: an organization of only its management account is deleted, it becomes "
    "standalone and pending invitations are canceled") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  CHECK_OK(log.append(organization_deleted(kOrg, "2026-10-10T00:00:00Z")));
  CHECK(log.state().find_organization(kOrg)->deleted);
  CHECK(log.state().find_account(kManagement)->current_membership() == nullptr);
  CHECK(log.state().payer_at(kManagement, at("2026-10-10T00:00:00Z")) == kManagement);
  CHECK(log.state().find_handshake("h-invite00001")->state == HandshakeState::kCanceled);
  // The former management account may now close, and the id is never reused.
  CHECK_OK(log.append(account_closed(kManagement, "2026-10-11T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(organization_created(kOrg, kOutsider, "2026-10-12T00:00:00Z")),
                   Code::kAlreadyExists, Reason::kDuplicateOrganization);
}

TEST_CASE("delete: an organization with a member fails with OrganizationNotEmpty") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(
      log.append(account_created(kMember, "m@example.com", "M", kOrg, "2026-10-02T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(organization_deleted(kOrg, "2026-10-10T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kOrganizationNotEmpty);
  CHECK_FALSE(log.state().find_organization(kOrg)->deleted);
}

TEST_CASE("delete: an unknown or deleted organization fails with AWSOrganizationsNotInUse") {
  Harness log = organization_with_outsider();
  CHECK_FAILS_WITH(log.append(organization_deleted("o-doesnotexist", "2026-10-10T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kAWSOrganizationsNotInUse);
  REQUIRE_OK(log.append(organization_deleted(kOrg, "2026-10-10T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(organization_deleted(kOrg, "2026-10-11T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kAWSOrganizationsNotInUse);
}

// ---- Time --------------------------------------------------------------------------------------

TEST_CASE("time: occurred_at more than 5 minutes after recorded_at fails with FutureTimestamp") {
  Harness log;
  const auto event = account_created(kOutsider, "ops@outside.io", "O", "", "2026-10-01T00:05:01Z");
  CHECK_FAILS_WITH(log.append_recorded_at(event, at("2026-10-01T00:00:00Z")),
                   Code::kInvalidArgument, Reason::kFutureTimestamp);
  const auto on_the_limit =
      account_created(kOutsider, "ops@outside.io", "O", "", "2026-10-01T00:05:00Z");
  CHECK_OK(log.append_recorded_at(on_the_limit, at("2026-10-01T00:00:00Z")));
}

TEST_CASE(
    "time: a membership change before the account's latest change fails with "
    "TimestampOutOfOrder") {
  Harness log = organization_with_outsider();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-02T00:00:00Z")));
  REQUIRE_OK(log.append(handshake_accepted("h-invite00001", "2026-10-10T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(account_left(kOutsider, "2026-10-09T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kTimestampOutOfOrder);
}

// ---- Securing the management account ------------------------------------------------------------

TEST_CASE("secure: an organization needs a management account with a password and MFA") {
  Harness log;
  REQUIRE_OK(log.append(
      account_created(kManagement, "billing@example.com", "E", "", "2026-09-01T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(organization_created(kOrg, kManagement, "2026-10-01T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kManagementAccountNotSecured);
  REQUIRE_OK(log.append(password_changed(kManagement, "2026-09-02T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(organization_created(kOrg, kManagement, "2026-10-01T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kManagementAccountNotSecured);
  CHECK(log.state().organizations.empty());
  REQUIRE_OK(log.append(mfa_enabled(kManagement, "phone", "2026-09-02T00:00:00Z")));
  CHECK_OK(log.append(organization_created(kOrg, kManagement, "2026-10-01T00:00:00Z")));
  const Account& account = *log.state().find_account(kManagement);
  CHECK(account.password_set);
  CHECK(account.mfa_devices == std::set<std::string, std::less<>>{"phone"});
}

TEST_CASE("secure: MFA alone is not enough either") {
  Harness log;
  REQUIRE_OK(log.append(
      account_created(kManagement, "billing@example.com", "E", "", "2026-09-01T00:00:00Z")));
  REQUIRE_OK(log.append(mfa_enabled(kManagement, "phone", "2026-09-02T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(organization_created(kOrg, kManagement, "2026-10-01T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kManagementAccountNotSecured);
}

TEST_CASE("secure: the facts need an active account and a well-formed, new device id") {
  Harness log = organization_with_outsider();
  CHECK_FAILS_WITH(log.append(password_changed("999999999999", "2026-10-02T00:00:00Z")),
                   Code::kNotFound, Reason::kAccountNotFound);
  CHECK_FAILS_WITH(log.append(mfa_enabled("999999999999", "phone", "2026-10-02T00:00:00Z")),
                   Code::kNotFound, Reason::kAccountNotFound);
  CHECK_FAILS_WITH(log.append(mfa_enabled(kOutsider, "", "2026-10-02T00:00:00Z")),
                   Code::kInvalidArgument, Reason::kInvalidInput);
  CHECK_FAILS_WITH(log.append(mfa_enabled(kOutsider, "a phone", "2026-10-02T00:00:00Z")),
                   Code::kInvalidArgument, Reason::kInvalidInput);
  CHECK_FAILS_WITH(log.append(mfa_enabled(kOutsider, std::string(65, 'd'), "2026-10-02T00:00:00Z")),
                   Code::kInvalidArgument, Reason::kInvalidInput);
  CHECK_OK(log.append(mfa_enabled(kOutsider, std::string(64, 'd'), "2026-10-02T00:00:00Z")));
  // secure() enabled "test-device" for the management account.
  CHECK_FAILS_WITH(log.append(mfa_enabled(kManagement, "test-device", "2026-10-02T00:00:00Z")),
                   Code::kAlreadyExists, Reason::kMfaDeviceAlreadyEnabled);
  REQUIRE_OK(log.append(account_closed(kOutsider, "2026-10-03T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(password_changed(kOutsider, "2026-10-04T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kAccountAlreadyClosed);
}

TEST_CASE("secure: securing an account is in log order, not in its business-time order") {
  Harness log;
  REQUIRE_OK(log.append(
      account_created(kManagement, "billing@example.com", "E", "", "2026-09-01T00:00:00Z")));
  // Secured today; the organization's history starts earlier.
  secure(log, kManagement, "2026-11-26T00:00:00Z");
  CHECK_OK(log.append(organization_created(kOrg, kManagement, "2026-10-01T00:00:00Z")));
}

// ---- Digest ------------------------------------------------------------------------------------

TEST_CASE("digest: equal histories give equal digests, any change gives another") {
  Harness first = organization_with_outsider();
  Harness second = organization_with_outsider();
  CHECK(digest(first.state()) == digest(second.state()));
  REQUIRE_OK(second.append(account_closed(kOutsider, "2026-10-20T00:00:00Z")));
  CHECK(digest(first.state()) != digest(second.state()));
  CHECK(digest(Registry{}) != digest(first.state()));
}

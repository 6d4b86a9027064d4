// DOMAIN.md "Feature sets and policies": organizational units, moves, policies and their
// attachments as history, feature sets, and enforcement on usage.
#include "projections/policies.h"

#include <doctest/doctest.h>

#include "tests/support/events.h"
#include "tests/support/status_matchers.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

constexpr const char* kOrg = "o-exampleorg1";
constexpr const char* kRoot = "r-exampleorg1";
constexpr const char* kPayer = "111111111111";
constexpr const char* kMember = "222222222222";
constexpr const char* kOther = "333333333333";
constexpr const char* kOuA = "ou-exampleorg1-teamaaaa";
constexpr const char* kOuB = "ou-exampleorg1-teambbbb";
constexpr const char* kTransfer = "DataTransfer-Out-GB";  // service ec2
constexpr const char* kRequests = "S3-Requests-Tier1";    // service s3
constexpr const char* kDenyEc2 = R"([{"effect":"Deny","services":["ec2"]}])";
constexpr const char* kOnlyS3 = R"([{"effect":"Allow","services":["s3"]}])";

// An ALL-features organization: payer, two created members, two OUs, ec2 and s3 prices.
Harness organization(fb::FeatureSet feature_set = fb::FeatureSet::ALL) {
  Harness log;
  REQUIRE_OK(log.append(
      account_created(kPayer, "billing@example.com", "Payer", "", "2026-09-01T00:00:00Z")));
  for (const fb::EventT& event : secure_account(kPayer, "2026-09-01T00:00:30Z")) {
    REQUIRE_OK(log.append(event));
  }
  REQUIRE_OK(log.append(organization_created(kOrg, kPayer, "2026-09-01T00:01:00Z", feature_set)));
  REQUIRE_OK(log.append(
      account_created(kMember, "m@example.com", "Member", kOrg, "2026-09-01T00:02:00Z")));
  REQUIRE_OK(
      log.append(account_created(kOther, "o@example.com", "Other", kOrg, "2026-09-01T00:03:00Z")));
  REQUIRE_OK(log.append(price_schedule_set(kTransfer, "ec2", "GB", "2026-09",
                                           {{std::nullopt, "0.09"}}, "2026-09-01T00:04:00Z")));
  REQUIRE_OK(log.append(price_schedule_set(kRequests, "s3", "Requests", "2026-09",
                                           {{std::nullopt, "0.000005"}}, "2026-09-01T00:04:00Z")));
  if (feature_set == fb::FeatureSet::ALL) {
    REQUIRE_OK(log.append(ou_created(kOuA, kRoot, "Team A", "2026-09-02T00:00:00Z")));
    REQUIRE_OK(log.append(ou_created(kOuB, kRoot, "Team B", "2026-09-02T00:00:00Z")));
  }
  return log;
}

Status use(Harness& log, const char* account, const char* usage_type, std::string_view when) {
  return log.append(usage_recorded(account, usage_type, "1", when));
}

}  // namespace

// ---- Feature sets -----------------------------------------------------------------------------

TEST_CASE(
    "features: a CONSOLIDATED_BILLING organization refuses policies "
    "(PolicyTypeNotAvailableForOrganization)") {
  Harness log = organization(fb::FeatureSet::CONSOLIDATED_BILLING);
  CHECK_FAILS_WITH(
      log.append(policy_created("p-denyec2aa", kOrg, "deny", kDenyEc2, "2026-09-05T00:00:00Z")),
      Code::kFailedPrecondition, Reason::kPolicyTypeNotAvailableForOrganization);
}

TEST_CASE(
    "features: requesting all features of an ALL organization fails with "
    "ORGANIZATION_ALREADY_HAS_ALL_FEATURES") {
  Harness log = organization();
  CHECK_FAILS_WITH_DETAIL(log.append(all_features_requested(kOrg, {}, "2026-09-05T00:00:00Z")),
                          Code::kFailedPrecondition, Reason::kHandshakeConstraintViolation,
                          "ORGANIZATION_ALREADY_HAS_ALL_FEATURES");
  CHECK_FAILS_WITH_DETAIL(log.append(all_features_enabled(kOrg, "2026-09-05T00:00:00Z")),
                          Code::kFailedPrecondition, Reason::kHandshakeConstraintViolation,
                          "ORGANIZATION_ALREADY_HAS_ALL_FEATURES");
}

TEST_CASE(
    "features: enabling all features needs every invited member's handshake accepted, "
    "for good") {
  Harness log = organization(fb::FeatureSet::CONSOLIDATED_BILLING);
  REQUIRE_OK(log.append(
      account_created("444444444444", "i@outside.io", "Invited", "", "2026-09-01T00:00:00Z")));
  REQUIRE_OK(
      log.append(account_invited("h-invite00001", kOrg, "444444444444", "2026-09-03T00:00:00Z")));
  REQUIRE_OK(log.append(handshake_accepted("h-invite00001", "2026-09-03T01:00:00Z")));
  // Created members approve implicitly: naming one, or missing the invited one, is refused.
  CHECK_FAILS_WITH(log.append(all_features_requested(kOrg, {{"h-enableall01", kMember}},
                                                     "2026-09-05T00:00:00Z")),
                   Code::kInvalidArgument, Reason::kInvalidInput);
  CHECK_FAILS_WITH(log.append(all_features_requested(kOrg, {}, "2026-09-05T00:00:00Z")),
                   Code::kInvalidArgument, Reason::kInvalidInput);
  REQUIRE_OK(log.append(
      all_features_requested(kOrg, {{"h-enableall01", "444444444444"}}, "2026-09-05T00:00:00Z")));
  CHECK(log.state().find_handshake("h-enableall01")->expires_at == at("2026-12-04T00:00:00Z"));
  // While pending, invitations wait.
  REQUIRE_OK(
      log.append(account_created("555555555555", "j@outside.io", "J", "", "2026-09-01T00:00:00Z")));
  CHECK_FAILS_WITH_DETAIL(
      log.append(account_invited("h-invite00002", kOrg, "555555555555", "2026-09-06T00:00:00Z")),
      Code::kFailedPrecondition, Reason::kHandshakeConstraintViolation,
      "INVITE_DISABLED_DURING_ENABLE_ALL_FEATURES");
  CHECK_FAILS_WITH_DETAIL(log.append(all_features_enabled(kOrg, "2026-09-06T00:00:00Z")),
                          Code::kFailedPrecondition, Reason::kHandshakeConstraintViolation,
                          "ENABLE_ALL_FEATURES_NOT_ACCEPTED");
  REQUIRE_OK(log.append(handshake_accepted("h-enableall01", "2026-09-07T00:00:00Z")));
  CHECK(log.state().find_account("444444444444")->memberships.size() == 1);  // nobody re-joins
  CHECK_OK(log.append(all_features_enabled(kOrg, "2026-09-08T00:00:00Z")));
  CHECK(log.state().find_organization(kOrg)->feature_set == fb::FeatureSet::ALL);
  CHECK_OK(
      log.append(account_invited("h-invite00002", kOrg, "555555555555", "2026-09-09T00:00:00Z")));
  CHECK_OK(
      log.append(policy_created("p-denyec2aa", kOrg, "deny", kDenyEc2, "2026-09-09T00:00:00Z")));
}

TEST_CASE("features: enabling without a request fails with ENABLE_ALL_FEATURES_NOT_REQUESTED") {
  Harness log = organization(fb::FeatureSet::CONSOLIDATED_BILLING);
  CHECK_FAILS_WITH_DETAIL(log.append(all_features_enabled(kOrg, "2026-09-06T00:00:00Z")),
                          Code::kFailedPrecondition, Reason::kHandshakeConstraintViolation,
                          "ENABLE_ALL_FEATURES_NOT_REQUESTED");
}

// ---- Organizational units and moves -----------------------------------------------------------

TEST_CASE("ou: units nest at most 5 levels below the root (OU_DEPTH_LIMIT_EXCEEDED)") {
  Harness log = organization();
  std::string parent = kRoot;
  for (int level = 1; level <= 5; ++level) {
    const std::string id = "ou-exampleorg1-level000" + std::to_string(level);
    REQUIRE_OK(
        log.append(ou_created(id, parent, "L" + std::to_string(level), "2026-09-03T00:00:00Z")));
    parent = id;
  }
  CHECK(log.state().ous.at(parent).depth == 5);
  CHECK_FAILS_WITH_DETAIL(
      log.append(ou_created("ou-exampleorg1-level0006", parent, "L6", "2026-09-03T00:00:00Z")),
      Code::kFailedPrecondition, Reason::kConstraintViolation, "OU_DEPTH_LIMIT_EXCEEDED");
}

TEST_CASE("ou: unknown parents, duplicate names and foreign root suffixes are refused") {
  Harness log = organization();
  CHECK_FAILS_WITH(log.append(ou_created("ou-exampleorg1-teamcccc", "ou-exampleorg1-nosuchou", "C",
                                         "2026-09-03T00:00:00Z")),
                   Code::kNotFound, Reason::kParentNotFound);
  CHECK_FAILS_WITH(
      log.append(ou_created("ou-exampleorg1-teamcccc", kRoot, "Team A", "2026-09-03T00:00:00Z")),
      Code::kAlreadyExists, Reason::kDuplicateOrganizationalUnit);
  CHECK_FAILS_WITH(log.append(ou_created(kOuA, kRoot, "Again", "2026-09-03T00:00:00Z")),
                   Code::kAlreadyExists, Reason::kDuplicateOrganizationalUnit);
  CHECK_FAILS_WITH(
      log.append(ou_created("ou-otherroot-teamcccc", kRoot, "C", "2026-09-03T00:00:00Z")),
      Code::kInvalidArgument, Reason::kInvalidInput);
}

TEST_CASE("move: an account moves between units of its organization") {
  Harness log = organization();
  CHECK_OK(log.append(account_moved(kMember, kOuA, "2026-09-10T00:00:00Z")));
  const Membership& membership = *log.state().find_account(kMember)->current_membership();
  CHECK(membership.parent_at(at("2026-09-09T23:59:59Z")) == kRoot);
  CHECK(membership.parent_at(at("2026-09-10T00:00:00Z")) == kOuA);
  CHECK_FAILS_WITH(log.append(account_moved(kMember, kOuA, "2026-09-11T00:00:00Z")),
                   Code::kAlreadyExists, Reason::kDuplicateAccount);
  CHECK_FAILS_WITH(
      log.append(account_moved(kMember, "ou-exampleorg1-nosuchou", "2026-09-11T00:00:00Z")),
      Code::kNotFound, Reason::kParentNotFound);
  REQUIRE_OK(
      log.append(account_created("444444444444", "x@outside.io", "X", "", "2026-09-01T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(account_moved("444444444444", kOuA, "2026-09-11T00:00:00Z")),
                   Code::kNotFound, Reason::kAccountNotFound);
}

// ---- Policies ---------------------------------------------------------------------------------

TEST_CASE("policy: names are unique per organization (DuplicatePolicy)") {
  Harness log = organization();
  REQUIRE_OK(log.append(
      policy_created("p-denyec2aa", kOrg, "deny-ec2", kDenyEc2, "2026-09-05T00:00:00Z")));
  CHECK_FAILS_WITH(
      log.append(policy_created("p-denyec2bb", kOrg, "deny-ec2", kDenyEc2, "2026-09-05T00:00:00Z")),
      Code::kAlreadyExists, Reason::kDuplicatePolicy);
  CHECK_FAILS_WITH(
      log.append(policy_created("p-denyec2aa", kOrg, "other", kDenyEc2, "2026-09-05T00:00:00Z")),
      Code::kAlreadyExists, Reason::kDuplicatePolicy);
}

TEST_CASE("policy: malformed documents fail with MalformedPolicyDocument") {
  Harness log = organization();
  for (const char* bad :
       {"not json", "[]", R"([{"effect":"Maybe","services":["ec2"]}])", R"([{"effect":"Deny"}])",
        R"([{"effect":"Deny","services":[]}])", R"([{"effect":"Deny","services":["EC2!"]}])",
        R"([{"effect":"Deny","services":["ec2"],"extra":1}])",
        R"([{"effect":"Deny","effect":"Allow","services":["ec2"]}])"}) {
    INFO("document: ", bad);
    CHECK_FAILS_WITH(
        log.append(policy_created("p-badpolicy", kOrg, "bad", bad, "2026-09-05T00:00:00Z")),
        Code::kInvalidArgument, Reason::kMalformedPolicyDocument);
  }
  CHECK_OK(
      log.append(policy_created("p-oneobject", kOrg, "one",
                                R"({"effect":"Allow","services":["*"]})", "2026-09-05T00:00:00Z")));
}

TEST_CASE("policy: attach, detach and delete with their errors") {
  Harness log = organization();
  REQUIRE_OK(log.append(
      policy_created("p-denyec2aa", kOrg, "deny-ec2", kDenyEc2, "2026-09-05T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(policy_attached("p-nosuchpolicy", kOuA, "2026-09-06T00:00:00Z")),
                   Code::kNotFound, Reason::kPolicyNotFound);
  CHECK_FAILS_WITH(
      log.append(policy_attached("p-denyec2aa", "ou-exampleorg1-nosuchou", "2026-09-06T00:00:00Z")),
      Code::kNotFound, Reason::kTargetNotFound);
  CHECK_FAILS_WITH(log.append(policy_detached("p-denyec2aa", kOuA, "2026-09-06T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kPolicyNotAttached);
  REQUIRE_OK(log.append(policy_attached("p-denyec2aa", kOuA, "2026-09-06T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(policy_attached("p-denyec2aa", kOuA, "2026-09-07T00:00:00Z")),
                   Code::kAlreadyExists, Reason::kDuplicatePolicyAttachment);
  CHECK_FAILS_WITH(log.append(policy_deleted("p-denyec2aa", "2026-09-07T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kPolicyInUse);
  REQUIRE_OK(log.append(policy_detached("p-denyec2aa", kOuA, "2026-09-08T00:00:00Z")));
  CHECK_OK(log.append(policy_deleted("p-denyec2aa", "2026-09-09T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(policy_attached("p-denyec2aa", kOuA, "2026-09-10T00:00:00Z")),
                   Code::kNotFound, Reason::kPolicyNotFound);
}

// ---- Enforcement on usage, as of its occurred_at ----------------------------------------------

TEST_CASE(
    "enforce: a deny attached on the 15th rejects usage of the 16th but accepts late "
    "usage of the 14th") {
  Harness log = organization();
  REQUIRE_OK(log.append(
      policy_created("p-denyec2aa", kOrg, "deny-ec2", kDenyEc2, "2026-09-05T00:00:00Z")));
  REQUIRE_OK(log.append(policy_attached("p-denyec2aa", kRoot, "2026-09-15T00:00:00Z")));
  const Status denied = use(log, kMember, kTransfer, "2026-09-16T00:00:00Z");
  CHECK_FAILS_WITH(denied, Code::kPermissionDenied, Reason::kPolicyDenied);
  CHECK(denied.message().find("p-denyec2aa") != std::string::npos);
  CHECK_OK(use(log, kMember, kTransfer, "2026-09-14T00:00:00Z"));
  CHECK_OK(use(log, kMember, kRequests, "2026-09-16T00:00:00Z"));  // s3 is not denied
}

TEST_CASE("enforce: moving between units changes permissions from the move on only") {
  Harness log = organization();
  REQUIRE_OK(log.append(
      policy_created("p-denyec2aa", kOrg, "deny-ec2", kDenyEc2, "2026-09-05T00:00:00Z")));
  REQUIRE_OK(log.append(policy_attached("p-denyec2aa", kOuA, "2026-09-05T00:00:00Z")));
  REQUIRE_OK(log.append(account_moved(kMember, kOuB, "2026-09-06T00:00:00Z")));
  REQUIRE_OK(log.append(account_moved(kMember, kOuA, "2026-09-10T00:00:00Z")));
  CHECK_FAILS_WITH(use(log, kMember, kTransfer, "2026-09-11T00:00:00Z"), Code::kPermissionDenied,
                   Reason::kPolicyDenied);
  // Before the move (recorded late) it was in Team B: allowed.
  CHECK_OK(use(log, kMember, kTransfer, "2026-09-09T00:00:00Z"));
}

TEST_CASE("enforce: leaving the organization lifts every policy") {
  Harness log = organization();
  REQUIRE_OK(log.append(
      policy_created("p-denyec2aa", kOrg, "deny-ec2", kDenyEc2, "2026-09-05T00:00:00Z")));
  REQUIRE_OK(log.append(policy_attached("p-denyec2aa", kMember, "2026-09-06T00:00:00Z")));
  CHECK_FAILS_WITH(use(log, kMember, kTransfer, "2026-09-07T00:00:00Z"), Code::kPermissionDenied,
                   Reason::kPolicyDenied);
  REQUIRE_OK(log.append(account_left(kMember, "2026-09-10T00:00:00Z")));
  CHECK_OK(use(log, kMember, kTransfer, "2026-09-11T00:00:00Z"));
}

TEST_CASE("enforce: an allow-list on a unit (only s3) denies ec2 below it but not elsewhere") {
  Harness log = organization();
  REQUIRE_OK(
      log.append(policy_created("p-onlys3aaa", kOrg, "only-s3", kOnlyS3, "2026-09-05T00:00:00Z")));
  REQUIRE_OK(log.append(policy_attached("p-onlys3aaa", kOuA, "2026-09-05T00:00:00Z")));
  REQUIRE_OK(log.append(account_moved(kMember, kOuA, "2026-09-06T00:00:00Z")));
  CHECK_FAILS_WITH(use(log, kMember, kTransfer, "2026-09-07T00:00:00Z"), Code::kPermissionDenied,
                   Reason::kPolicyDenied);
  CHECK_OK(use(log, kMember, kRequests, "2026-09-07T00:00:00Z"));
  CHECK_OK(use(log, kOther, kTransfer, "2026-09-07T00:00:00Z"));  // under the root: unaffected
}

TEST_CASE("enforce: the management account is never denied, even by a deny-all on the root") {
  Harness log = organization();
  REQUIRE_OK(log.append(policy_created("p-denyallaa", kOrg, "deny-all",
                                       R"([{"effect":"Deny","services":["*"]}])",
                                       "2026-09-05T00:00:00Z")));
  REQUIRE_OK(log.append(policy_attached("p-denyallaa", kRoot, "2026-09-05T00:00:00Z")));
  CHECK_OK(use(log, kPayer, kTransfer, "2026-09-06T00:00:00Z"));
  CHECK_FAILS_WITH(use(log, kMember, kRequests, "2026-09-06T00:00:00Z"), Code::kPermissionDenied,
                   Reason::kPolicyDenied);
}

TEST_CASE("enforce: the policy path as of a time lists each level's attached policies") {
  Harness log = organization();
  REQUIRE_OK(log.append(
      policy_created("p-denyec2aa", kOrg, "deny-ec2", kDenyEc2, "2026-09-05T00:00:00Z")));
  REQUIRE_OK(log.append(policy_attached("p-denyec2aa", kOuA, "2026-09-05T00:00:00Z")));
  REQUIRE_OK(log.append(account_moved(kMember, kOuA, "2026-09-06T00:00:00Z")));
  const auto path = policy_path(log.state(), kMember, at("2026-09-07T00:00:00Z"));
  REQUIRE(path.size() == 3);
  CHECK(path[0].target_id == kRoot);
  CHECK(path[1].target_id == kOuA);
  REQUIRE(path[1].policies.size() == 1);
  CHECK(path[1].policies[0]->id == "p-denyec2aa");
  CHECK(path[2].target_id == kMember);
  CHECK(policy_path(log.state(), kMember, at("2026-09-05T12:00:00Z"))[1].target_id == kMember);
}

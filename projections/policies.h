// Organizations in depth (DOMAIN.md "Feature sets and policies"): organizational units, account
// moves, service control policies and their attachments as history, feature sets, and the
// effective permission of an account for a service at a time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "projections/registry.h"
#include "projections/status.h"

namespace orgledger {

// Validate and apply AllFeaturesEnableRequested, AllFeaturesEnabled, OrganizationalUnitCreated,
// AccountMoved, PolicyCreated, PolicyAttached, PolicyDetached and PolicyDeleted (registry.cpp
// dispatches here). Same contracts as validate/apply.
Status validate_policy_event(const Registry& state, const fb::Event& event);
void apply_policy_event(Registry& state, const fb::Event& event);

// One level of an account's path at a time: the root, each organizational unit, the account.
struct PathLevel {
  std::string target_id;
  std::vector<const Policy*> policies;  // attached at that time
};

// The path of `account_id` at `time` with the policies attached at each level; empty when the
// account is in no organization then.
std::vector<PathLevel> policy_path(const Registry& state, std::string_view account_id, Micros time);

// Whether `account_id` may use `service` at `time` (DOMAIN.md): OK, or
// PermissionDenied/PolicyDenied naming the policy that denies it (or the level whose policies
// allow it nowhere). A level without any Allow statement keeps its implicit allow-all (AWS's
// FullAWSAccess); the management account, standalone accounts and CONSOLIDATED_BILLING
// organizations are never restricted.
Status check_permission(const Registry& state, std::string_view account_id,
                        std::string_view service, Micros time);
// The same for an account already found in `state`.
Status check_permission(const Registry& state, const Account& account, std::string_view service,
                        Micros time);

// Parses a policy document: a JSON array of statements {"effect":"Allow"|"Deny",
// "services":[...]} (or one such object). InvalidArgument/MalformedPolicyDocument otherwise.
Result<std::vector<PolicyStatement>> parse_policy_document(std::string_view document);

}  // namespace orgledger

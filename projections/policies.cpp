#include "projections/policies.h"

#include <simdjson.h>

#include <algorithm>

#include "projections/rule_helpers.h"

namespace orgledger {
namespace {

using namespace rules;

Status malformed(std::string why) {
  return Status(Code::kInvalidArgument, Reason::kMalformedPolicyDocument,
                "policy document: " + std::move(why));
}

Status policies_unavailable(const Organization& organization) {
  return Status(Code::kFailedPrecondition, Reason::kPolicyTypeNotAvailableForOrganization,
                "organization " + in_quotes(organization.id) +
                    " has the CONSOLIDATED_BILLING feature set: policies need ALL features");
}

Status policy_not_found(std::string_view policy_id) {
  return Status(Code::kNotFound, Reason::kPolicyNotFound,
                "policy " + in_quotes(policy_id) + " does not exist");
}

Status target_not_found(std::string_view target_id) {
  return Status(Code::kNotFound, Reason::kTargetNotFound,
                "target " + in_quotes(target_id) +
                    " is not a root, organizational unit or member account of the policy's "
                    "organization");
}

bool is_service_name(std::string_view service) {
  if (service == "*") return true;
  if (service.empty() || service.size() > 64) return false;
  return std::all_of(service.begin(), service.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

Result<const Organization*> live_organization(const Registry& state, std::string_view org_id) {
  const Organization* organization = state.find_organization(org_id);
  if (organization == nullptr || organization->deleted) return organization_not_in_use(org_id);
  return organization;
}

// A live policy (not deleted).
Result<const Policy*> existing_policy(const Registry& state, std::string_view policy_id) {
  auto it = state.policies.find(policy_id);
  if (it == state.policies.end() || it->second.deleted) return policy_not_found(policy_id);
  return &it->second;
}

// Whether `target_id` is the root, an organizational unit or a current member of `org`.
bool is_target_of(const Registry& state, const Organization& organization,
                  std::string_view target_id) {
  if (target_id == organization.root_id) return true;
  if (auto ou = state.ous.find(target_id); ou != state.ous.end()) {
    return ou->second.org_id == organization.id;
  }
  return organization.member_ids.contains(target_id);
}

const Attachment* open_attachment(const Registry& state, std::string_view target_id,
                                  std::string_view policy_id) {
  auto it = state.attachments.find(target_id);
  if (it == state.attachments.end()) return nullptr;
  for (const Attachment& attachment : it->second) {
    if (attachment.policy_id == policy_id && attachment.detached_at == kForever) return &attachment;
  }
  return nullptr;
}

Status validate_enable_requested(const Registry& state,
                                 const fb::AllFeaturesEnableRequested& event) {
  auto organization = live_organization(state, text(event.org_id()));
  if (!organization.is_ok()) return organization.status();
  if ((*organization)->feature_set == fb::FeatureSet::ALL) {
    return Status(Code::kFailedPrecondition, Reason::kHandshakeConstraintViolation,
                  "organization " + in_quotes((*organization)->id) + " already has all features",
                  "ORGANIZATION_ALREADY_HAS_ALL_FEATURES");
  }
  // One handshake per invited member, exactly.
  std::set<std::string, std::less<>> invited;
  for (const std::string& member : (*organization)->member_ids) {
    const Membership* membership = state.find_account(member)->current_membership();
    if (membership->method == JoinedMethod::kInvited) invited.insert(member);
  }
  std::set<std::string, std::less<>> named, ids;
  if (event.handshakes() != nullptr) {
    for (const fb::FeatureHandshake* handshake : *event.handshakes()) {
      const std::string_view id = text(handshake->handshake_id());
      if (!is_handshake_id(id)) {
        return invalid_input("handshake id " + in_quotes(id) +
                             " must be \"h-\" followed by 8 to 32 lower-case letters or digits");
      }
      if (state.find_handshake(id) != nullptr || !ids.insert(std::string(id)).second) {
        return Status(Code::kAlreadyExists, Reason::kDuplicateHandshake,
                      "handshake id " + in_quotes(id) + " is already used");
      }
      const std::string_view account = text(handshake->account_id());
      if (!invited.contains(account)) {
        return invalid_input("account " + in_quotes(account) +
                             " is not an invited member; created members approve implicitly");
      }
      named.insert(std::string(account));
    }
  }
  for (const std::string& member : invited) {
    if (!named.contains(member)) {
      return invalid_input("invited member " + in_quotes(member) +
                           " needs an ENABLE_ALL_FEATURES handshake");
    }
  }
  return Status::ok();
}

Status validate_enabled(const Registry& state, const fb::AllFeaturesEnabled& event, Micros at) {
  auto organization = live_organization(state, text(event.org_id()));
  if (!organization.is_ok()) return organization.status();
  if ((*organization)->feature_set == fb::FeatureSet::ALL) {
    return Status(Code::kFailedPrecondition, Reason::kHandshakeConstraintViolation,
                  "organization " + in_quotes((*organization)->id) + " already has all features",
                  "ORGANIZATION_ALREADY_HAS_ALL_FEATURES");
  }
  if (!(*organization)->all_features_request) {
    return Status(Code::kFailedPrecondition, Reason::kHandshakeConstraintViolation,
                  "enabling all features needs an AllFeaturesEnableRequested first",
                  "ENABLE_ALL_FEATURES_NOT_REQUESTED");
  }
  for (const std::string& id : *(*organization)->all_features_request) {
    const Handshake& handshake = *state.find_handshake(id);
    if (handshake.state_at(at) != HandshakeState::kAccepted) {
      return Status(
          Code::kFailedPrecondition, Reason::kHandshakeConstraintViolation,
          "handshake " + in_quotes(id) + " of account " + in_quotes(handshake.account_id) + " is " +
              std::string(handshake_state_name(handshake.state_at(at))) + ", not ACCEPTED",
          "ENABLE_ALL_FEATURES_NOT_ACCEPTED");
    }
  }
  return Status::ok();
}

Status validate_ou_created(const Registry& state, const fb::OrganizationalUnitCreated& event) {
  const std::string_view ou_id = text(event.ou_id());
  if (!is_ou_id(ou_id)) {
    return invalid_input(
        "organizational unit id " + in_quotes(ou_id) +
        " must be \"ou-\", the root's suffix, \"-\" and 8 to 32 letters or digits");
  }
  if (state.ous.contains(ou_id)) {
    return Status(Code::kAlreadyExists, Reason::kDuplicateOrganizationalUnit,
                  "organizational unit " + in_quotes(ou_id) + " already exists");
  }
  const std::string_view parent_id = text(event.parent_id());
  const Organization* organization = state.organization_of_parent(parent_id);
  if (organization == nullptr || organization->deleted) {
    return Status(Code::kNotFound, Reason::kParentNotFound,
                  "parent " + in_quotes(parent_id) + " is not a root or organizational unit");
  }
  const std::string root_suffix = organization->root_id.substr(2);
  if (ou_id.substr(3, root_suffix.size() + 1) != root_suffix + "-") {
    return invalid_input("organizational unit id " + in_quotes(ou_id) + " must start with \"ou-" +
                         root_suffix + "-\" (its root's suffix)");
  }
  const std::string_view name = text(event.name());
  if (!is_valid_name(name))
    return invalid_input("an organizational unit name is 1 to 128 characters");
  int depth = 1;
  if (auto parent = state.ous.find(parent_id); parent != state.ous.end()) {
    depth = parent->second.depth + 1;
  }
  if (depth > kMaxOuDepth) {
    return Status(Code::kFailedPrecondition, Reason::kConstraintViolation,
                  "organizational units nest at most 5 levels below the root",
                  "OU_DEPTH_LIMIT_EXCEEDED");
  }
  for (const auto& [id, ou] : state.ous) {
    if (ou.parent_id == parent_id && ou.name == name) {
      return Status(Code::kAlreadyExists, Reason::kDuplicateOrganizationalUnit,
                    "an organizational unit named " + in_quotes(name) + " already exists under " +
                        in_quotes(parent_id));
    }
  }
  return Status::ok();
}

Status validate_account_moved(const Registry& state, const fb::AccountMoved& event, Micros at) {
  const std::string_view account_id = text(event.account_id());
  ORGLEDGER_RETURN_IF_ERROR(check_account_id(account_id));
  const Account* account = state.find_account(account_id);
  if (account == nullptr) return account_not_found(account_id);
  const Membership* membership = account->current_membership();
  if (membership == nullptr) {
    return Status(Code::kNotFound, Reason::kAccountNotFound,
                  "account " + in_quotes(account_id) + " is not a member of any organization");
  }
  const std::string_view parent_id = text(event.parent_id());
  const Organization* organization = state.organization_of_parent(parent_id);
  if (organization == nullptr || organization->id != membership->org_id) {
    return Status(Code::kNotFound, Reason::kParentNotFound,
                  "parent " + in_quotes(parent_id) + " is not a root or organizational unit of " +
                      in_quotes(membership->org_id));
  }
  if (membership->parents.back().second == parent_id) {
    return Status(Code::kAlreadyExists, Reason::kDuplicateAccount,
                  "account " + in_quotes(account_id) + " is already under " + in_quotes(parent_id));
  }
  if (at < account->changed_at || (account->last_usage_at >= 0 && at <= account->last_usage_at)) {
    return Status(Code::kFailedPrecondition, Reason::kTimestampOutOfOrder,
                  "occurred_at " + format_time(at) + " precedes the latest change or usage of " +
                      in_quotes(account_id));
  }
  return Status::ok();
}

Status validate_policy_created(const Registry& state, const fb::PolicyCreated& event) {
  const std::string_view policy_id = text(event.policy_id());
  if (!is_policy_id(policy_id)) {
    return invalid_input("policy id " + in_quotes(policy_id) +
                         " must be \"p-\" followed by 8 to 128 letters, digits or _");
  }
  auto organization = live_organization(state, text(event.org_id()));
  if (!organization.is_ok()) return organization.status();
  if ((*organization)->feature_set != fb::FeatureSet::ALL)
    return policies_unavailable(**organization);
  if (state.policies.contains(policy_id)) {
    return Status(Code::kAlreadyExists, Reason::kDuplicatePolicy,
                  "policy id " + in_quotes(policy_id) + " is already used");
  }
  const std::string_view name = text(event.name());
  if (!is_valid_name(name)) return invalid_input("a policy name is 1 to 128 characters");
  for (const auto& [id, policy] : state.policies) {
    if (!policy.deleted && policy.org_id == (*organization)->id && policy.name == name) {
      return Status(Code::kAlreadyExists, Reason::kDuplicatePolicy,
                    "organization " + in_quotes((*organization)->id) +
                        " already has a policy named " + in_quotes(name));
    }
  }
  if (event.type() != fb::PolicyType::SERVICE_CONTROL_POLICY) {
    return invalid_input("the only policy type is SERVICE_CONTROL_POLICY");
  }
  auto statements = parse_policy_document(text(event.document()));
  return statements.is_ok() ? Status::ok() : statements.status();
}

// The policy and target of an attach or detach, checked against the policy's organization.
Status validate_attachment(const Registry& state, std::string_view policy_id,
                           std::string_view target_id) {
  auto policy = existing_policy(state, policy_id);
  if (!policy.is_ok()) return policy.status();
  const Organization& organization = *state.find_organization((*policy)->org_id);
  if (organization.deleted) return organization_not_in_use(organization.id);
  if (organization.feature_set != fb::FeatureSet::ALL) return policies_unavailable(organization);
  if (!is_target_of(state, organization, target_id)) return target_not_found(target_id);
  return Status::ok();
}

}  // namespace

Result<std::vector<PolicyStatement>> parse_policy_document(std::string_view document) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(document.data(), document.size()).get(root); error) {
    return malformed(std::string("not valid JSON: ") + simdjson::error_message(error));
  }
  std::vector<simdjson::dom::element> items;
  if (root.type() == simdjson::dom::element_type::ARRAY) {
    for (simdjson::dom::element item : simdjson::dom::array(root)) items.push_back(item);
  } else {
    items.push_back(root);
  }
  if (items.empty()) return malformed("a document needs at least one statement");
  std::vector<PolicyStatement> statements;
  for (simdjson::dom::element item : items) {
    if (item.type() != simdjson::dom::element_type::OBJECT) {
      return malformed("a statement is an object {\"effect\": ..., \"services\": [...]}");
    }
    PolicyStatement statement;
    bool has_effect = false, has_services = false;
    for (auto [key, value] : simdjson::dom::object(item)) {
      std::string_view text_value;
      if (key == "effect" && !has_effect) {
        if (value.get_string().get(text_value) != simdjson::SUCCESS ||
            (text_value != "Allow" && text_value != "Deny")) {
          return malformed("\"effect\" is \"Allow\" or \"Deny\"");
        }
        statement.allow = text_value == "Allow";
        has_effect = true;
      } else if (key == "services" && !has_services) {
        if (value.type() != simdjson::dom::element_type::ARRAY) {
          return malformed("\"services\" is an array of service names");
        }
        for (simdjson::dom::element service : simdjson::dom::array(value)) {
          if (service.get_string().get(text_value) != simdjson::SUCCESS ||
              !is_service_name(text_value)) {
            return malformed("a service is \"*\" or a lower-case name like \"ec2\"");
          }
          statement.services.insert(std::string(text_value));
        }
        has_services = true;
      } else {
        return malformed("unexpected or repeated field \"" + std::string(key) + "\"");
      }
    }
    if (!has_effect || !has_services || statement.services.empty()) {
      return malformed("every statement needs an \"effect\" and at least one service");
    }
    statements.push_back(std::move(statement));
  }
  return statements;
}

Status validate_policy_event(const Registry& state, const fb::Event& event) {
  const Micros at = event.occurred_at();
  switch (event.body_type()) {
    case fb::EventBody::AllFeaturesEnableRequested:
      return validate_enable_requested(state, *event.body_as_AllFeaturesEnableRequested());
    case fb::EventBody::AllFeaturesEnabled:
      return validate_enabled(state, *event.body_as_AllFeaturesEnabled(), at);
    case fb::EventBody::OrganizationalUnitCreated:
      return validate_ou_created(state, *event.body_as_OrganizationalUnitCreated());
    case fb::EventBody::AccountMoved:
      return validate_account_moved(state, *event.body_as_AccountMoved(), at);
    case fb::EventBody::PolicyCreated:
      return validate_policy_created(state, *event.body_as_PolicyCreated());
    case fb::EventBody::PolicyAttached: {
      const auto& body = *event.body_as_PolicyAttached();
      ORGLEDGER_RETURN_IF_ERROR(
          validate_attachment(state, text(body.policy_id()), text(body.target_id())));
      if (open_attachment(state, text(body.target_id()), text(body.policy_id())) != nullptr) {
        return Status(Code::kAlreadyExists, Reason::kDuplicatePolicyAttachment,
                      "policy " + in_quotes(text(body.policy_id())) + " is already attached to " +
                          in_quotes(text(body.target_id())));
      }
      return Status::ok();
    }
    case fb::EventBody::PolicyDetached: {
      const auto& body = *event.body_as_PolicyDetached();
      ORGLEDGER_RETURN_IF_ERROR(
          validate_attachment(state, text(body.policy_id()), text(body.target_id())));
      const Attachment* attachment =
          open_attachment(state, text(body.target_id()), text(body.policy_id()));
      if (attachment == nullptr) {
        return Status(Code::kFailedPrecondition, Reason::kPolicyNotAttached,
                      "policy " + in_quotes(text(body.policy_id())) + " is not attached to " +
                          in_quotes(text(body.target_id())));
      }
      if (at < attachment->attached_at) {
        return Status(Code::kFailedPrecondition, Reason::kTimestampOutOfOrder,
                      "occurred_at precedes the attachment it would end");
      }
      return Status::ok();
    }
    case fb::EventBody::PolicyDeleted: {
      const std::string_view policy_id = text(event.body_as_PolicyDeleted()->policy_id());
      auto policy = existing_policy(state, policy_id);
      if (!policy.is_ok()) return policy.status();
      for (const auto& [target, attachments] : state.attachments) {
        for (const Attachment& attachment : attachments) {
          if (attachment.policy_id == policy_id && attachment.detached_at == kForever) {
            return Status(Code::kFailedPrecondition, Reason::kPolicyInUse,
                          "policy " + in_quotes(policy_id) + " is still attached to " +
                              in_quotes(target) + "; detach it first");
          }
        }
      }
      return Status::ok();
    }
    default:
      return Status(Code::kInternal, Reason::kNone, "not a policy event");
  }
}

void apply_policy_event(Registry& state, const fb::Event& event) {
  const Micros at = event.occurred_at();
  switch (event.body_type()) {
    case fb::EventBody::AllFeaturesEnableRequested: {
      const auto& body = *event.body_as_AllFeaturesEnableRequested();
      Organization& organization = state.organizations.find(text(body.org_id()))->second;
      organization.all_features_request.emplace();
      if (body.handshakes() != nullptr) {
        for (const fb::FeatureHandshake* request : *body.handshakes()) {
          Handshake handshake;
          handshake.id = std::string(text(request->handshake_id()));
          handshake.org_id = organization.id;
          handshake.account_id = std::string(text(request->account_id()));
          handshake.action = fb::HandshakeAction::ENABLE_ALL_FEATURES;
          handshake.requested_at = at;
          handshake.expires_at = at + kAllFeaturesLifetime;
          handshake.changed_at = at;
          organization.all_features_request->insert(handshake.id);
          state.handshakes.emplace(handshake.id, std::move(handshake));
        }
      }
      break;
    }
    case fb::EventBody::AllFeaturesEnabled: {
      Organization& organization =
          state.organizations.find(text(event.body_as_AllFeaturesEnabled()->org_id()))->second;
      organization.feature_set = fb::FeatureSet::ALL;
      organization.all_features_request.reset();
      break;
    }
    case fb::EventBody::OrganizationalUnitCreated: {
      const auto& body = *event.body_as_OrganizationalUnitCreated();
      OrganizationalUnit ou;
      ou.id = std::string(text(body.ou_id()));
      ou.parent_id = std::string(text(body.parent_id()));
      ou.org_id = state.organization_of_parent(ou.parent_id)->id;
      ou.name = std::string(text(body.name()));
      if (auto parent = state.ous.find(ou.parent_id); parent != state.ous.end()) {
        ou.depth = parent->second.depth + 1;
      }
      ou.created_at = at;
      state.ous.emplace(ou.id, std::move(ou));
      break;
    }
    case fb::EventBody::AccountMoved: {
      const auto& body = *event.body_as_AccountMoved();
      Account& account = state.accounts.find(text(body.account_id()))->second;
      account.memberships.back().parents.emplace_back(at, std::string(text(body.parent_id())));
      account.changed_at = at;
      break;
    }
    case fb::EventBody::PolicyCreated: {
      const auto& body = *event.body_as_PolicyCreated();
      Policy policy;
      policy.id = std::string(text(body.policy_id()));
      policy.org_id = std::string(text(body.org_id()));
      policy.name = std::string(text(body.name()));
      policy.document = std::string(text(body.document()));
      policy.statements = parse_policy_document(policy.document).value();
      policy.created_at = at;
      state.policies.emplace(policy.id, std::move(policy));
      break;
    }
    case fb::EventBody::PolicyAttached: {
      const auto& body = *event.body_as_PolicyAttached();
      state.attachments[std::string(text(body.target_id()))].push_back(
          Attachment{std::string(text(body.policy_id())), at, kForever});
      break;
    }
    case fb::EventBody::PolicyDetached: {
      const auto& body = *event.body_as_PolicyDetached();
      for (Attachment& attachment : state.attachments.find(text(body.target_id()))->second) {
        if (attachment.policy_id == text(body.policy_id()) && attachment.detached_at == kForever) {
          attachment.detached_at = at;
        }
      }
      break;
    }
    case fb::EventBody::PolicyDeleted:
      state.policies.find(text(event.body_as_PolicyDeleted()->policy_id()))->second.deleted = true;
      break;
    default:
      break;
  }
}

std::vector<PathLevel> policy_path(const Registry& state, std::string_view account_id,
                                   Micros time) {
  std::vector<PathLevel> path;
  const Account* account = state.find_account(account_id);
  if (account == nullptr) return path;
  const Membership* membership = account->membership_at(time);
  if (membership == nullptr) return path;
  // From the account's parent up to the root, then reversed.
  std::vector<std::string> targets{account->id};
  std::string parent = membership->parent_at(time);
  while (true) {
    targets.push_back(parent);
    auto ou = state.ous.find(parent);
    if (ou == state.ous.end()) break;  // the root
    parent = ou->second.parent_id;
  }
  std::reverse(targets.begin(), targets.end());
  for (const std::string& target : targets) {
    PathLevel level{target, {}};
    if (auto it = state.attachments.find(target); it != state.attachments.end()) {
      for (const Attachment& attachment : it->second) {
        if (attachment.attached_at <= time && time < attachment.detached_at) {
          level.policies.push_back(&state.policies.find(attachment.policy_id)->second);
        }
      }
    }
    path.push_back(std::move(level));
  }
  return path;
}

Status check_permission(const Registry& state, std::string_view account_id,
                        std::string_view service, Micros time) {
  const Account* account = state.find_account(account_id);
  if (account == nullptr) return Status::ok();
  return check_permission(state, *account, service, time);
}

Status check_permission(const Registry& state, const Account& account, std::string_view service,
                        Micros time) {
  const std::string_view account_id = account.id;
  const Membership* membership = account.membership_at(time);
  if (membership == nullptr || membership->payer_id == account_id) return Status::ok();
  const Organization* organization = state.find_organization(membership->org_id);
  if (organization == nullptr || organization->feature_set != fb::FeatureSet::ALL) {
    return Status::ok();
  }
  // Walks the levels from the account up to the root without copying the path (this runs for
  // every usage record), calling visit(level, attachments) until it returns an error.
  auto walk = [&](auto&& visit) -> Status {
    std::string_view level = account_id;
    std::string_view parent = membership->parent_at(time);
    for (;;) {
      if (auto it = state.attachments.find(level); it != state.attachments.end()) {
        ORGLEDGER_RETURN_IF_ERROR(visit(level, it->second));
      }
      if (level == organization->root_id) return Status::ok();
      level = parent;
      if (auto ou = state.ous.find(parent); ou != state.ous.end()) parent = ou->second.parent_id;
    }
  };
  auto in_force = [&](const Attachment& attachment) {
    return attachment.attached_at <= time && time < attachment.detached_at;
  };
  // Any deny at any level wins (and is the one named).
  ORGLEDGER_RETURN_IF_ERROR(walk([&](std::string_view level,
                                     const std::vector<Attachment>& attachments) {
    for (const Attachment& attachment : attachments) {
      if (!in_force(attachment)) continue;
      const Policy& policy = state.policies.find(attachment.policy_id)->second;
      for (const PolicyStatement& statement : policy.statements) {
        if (!statement.allow && statement.covers(service)) {
          return Status(Code::kPermissionDenied, Reason::kPolicyDenied,
                        "policy " + in_quotes(policy.id) + " (" + policy.name + ") attached to " +
                            in_quotes(level) + " denies service " + in_quotes(service) +
                            " to account " + in_quotes(account_id) + " at " + format_time(time));
        }
      }
    }
    return Status::ok();
  }));
  // Every level must allow it: explicitly, or implicitly when none of its policies allows.
  return walk([&](std::string_view level, const std::vector<Attachment>& attachments) {
    bool has_allow_list = false;
    for (const Attachment& attachment : attachments) {
      if (!in_force(attachment)) continue;
      for (const PolicyStatement& statement :
           state.policies.find(attachment.policy_id)->second.statements) {
        if (!statement.allow) continue;
        if (statement.covers(service)) return Status::ok();
        has_allow_list = true;
      }
    }
    if (!has_allow_list) return Status::ok();
    return Status(Code::kPermissionDenied, Reason::kPolicyDenied,
                  "service " + in_quotes(service) + " is not allowed at " + in_quotes(level) +
                      " by its allow-list policies, for account " + in_quotes(account_id) + " at " +
                      format_time(time));
  });
}

}  // namespace orgledger

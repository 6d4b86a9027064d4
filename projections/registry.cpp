#include "projections/registry.h"

#include <algorithm>

#include "projections/authorization.h"
#include "projections/billing.h"
#include "projections/policies.h"
#include "projections/rule_helpers.h"
#include "projections/snapshot.h"

namespace orgledger {
namespace {

using namespace rules;

// Which rule file an event type belongs to: DOMAIN.md's sections.
enum class Section { kOrganizations, kBilling, kPolicies };

Section section_of(fb::EventBody type) {
  switch (type) {
    case fb::EventBody::PriceScheduleSet:
    case fb::EventBody::UsageRecorded:
    case fb::EventBody::CreditGranted:
    case fb::EventBody::CreditSharingSet:
    case fb::EventBody::BillingPeriodClosed:
      return Section::kBilling;
    case fb::EventBody::AllFeaturesEnableRequested:
    case fb::EventBody::AllFeaturesEnabled:
    case fb::EventBody::OrganizationalUnitCreated:
    case fb::EventBody::AccountMoved:
    case fb::EventBody::PolicyCreated:
    case fb::EventBody::PolicyAttached:
    case fb::EventBody::PolicyDetached:
    case fb::EventBody::PolicyDeleted:
      return Section::kPolicies;
    default:
      return Section::kOrganizations;
  }
}

// ASCII only (emails are validated as printable ASCII), independent of the process locale.
std::string lower_case(std::string_view value) {
  std::string lowered(value);
  for (char& c : lowered) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lowered;
}

Status handshake_not_found(std::string_view handshake_id) {
  return Status(Code::kNotFound, Reason::kHandshakeNotFound,
                "handshake " + in_quotes(handshake_id) + " does not exist");
}

// Changes to one entity are appended in occurred-time order; late arrival is for usage only.
Status not_before(Micros occurred_at, Micros latest, std::string_view what) {
  if (occurred_at >= latest) return Status::ok();
  return Status(Code::kFailedPrecondition, Reason::kTimestampOutOfOrder,
                "occurred_at " + format_time(occurred_at) + " precedes the latest change to " +
                    std::string(what) + " at " + format_time(latest));
}

// A change to who pays for an account (or whether it may use anything) may not precede usage
// already recorded for it.
Status not_before_usage(Micros occurred_at, const Account& account) {
  // Strictly after: usage at the very instant of the change already falls on its far side.
  if (occurred_at > account.last_usage_at) return Status::ok();
  return Status(Code::kFailedPrecondition, Reason::kTimestampOutOfOrder,
                "occurred_at " + format_time(occurred_at) + " precedes usage of account \"" +
                    account.id + "\" already recorded at " + format_time(account.last_usage_at) +
                    "; its payer cannot change behind recorded usage");
}

Status check_org_id(std::string_view id) {
  if (is_org_id(id)) return Status::ok();
  return invalid_input("organization id " + in_quotes(id) +
                       " must be \"o-\" followed by 10 to 32 lower-case letters or digits");
}

Status check_handshake_id(std::string_view id) {
  if (is_handshake_id(id)) return Status::ok();
  return invalid_input("handshake id " + in_quotes(id) +
                       " must be \"h-\" followed by 8 to 32 lower-case letters or digits");
}

// An organization that exists and has not been deleted.
Result<const Organization*> live_organization(const Registry& state, std::string_view org_id) {
  ORGLEDGER_RETURN_IF_ERROR(check_org_id(org_id));
  const Organization* organization = state.find_organization(org_id);
  if (organization == nullptr || organization->deleted) return organization_not_in_use(org_id);
  return organization;
}

Result<const Account*> existing_account(const Registry& state, std::string_view account_id) {
  ORGLEDGER_RETURN_IF_ERROR(check_account_id(account_id));
  const Account* account = state.find_account(account_id);
  if (account == nullptr) return account_not_found(account_id);
  return account;
}

// The live organization `account_id` manages, or nullptr.
const Organization* managed_organization(const Registry& state, const Account& account) {
  const Membership* membership = account.current_membership();
  if (membership == nullptr || membership->payer_id != account.id) return nullptr;
  const Organization* organization = state.find_organization(membership->org_id);
  return organization != nullptr && !organization->deleted ? organization : nullptr;
}

Status quota_exceeded(const Organization& organization, Reason reason) {
  return Status(Code::kResourceExhausted, reason,
                "organization " + in_quotes(organization.id) + " has reached its quota of " +
                    std::to_string(organization.max_accounts) +
                    " accounts (members plus pending invitations); raise it with AccountQuotaSet",
                "ACCOUNT_NUMBER_LIMIT_EXCEEDED");
}

// ---- validation, one function per event type --------------------------------------------------

Status validate_account_created(const Registry& state, const fb::AccountCreated& event,
                                Micros occurred_at) {
  const std::string_view account_id = text(event.account_id());
  ORGLEDGER_RETURN_IF_ERROR(check_account_id(account_id));
  const std::string_view email = text(event.email());
  if (!is_valid_email(email)) {
    return invalid_input("email " + in_quotes(email) +
                         " must be 6 to 64 characters with one '@' and a dot in the domain");
  }
  if (!is_valid_name(text(event.name()))) {
    return invalid_input("account name must be 1 to 128 characters of text");
  }
  if (state.find_account(account_id) != nullptr) {
    return Status(Code::kAlreadyExists, Reason::kDuplicateAccount,
                  "account " + in_quotes(account_id) + " already exists");
  }
  if (state.account_by_email.contains(lower_case(email))) {
    return Status(Code::kAlreadyExists, Reason::kEmailAlreadyExists,
                  "email " + in_quotes(email) + " is already used by another account");
  }
  const std::string_view org_id = text(event.org_id());
  if (!org_id.empty()) {
    auto organization = live_organization(state, org_id);
    if (!organization.is_ok()) return organization.status();
    ORGLEDGER_RETURN_IF_ERROR(
        not_before(occurred_at, (*organization)->created_at, "organization " + in_quotes(org_id)));
    if (state.quota_usage(**organization, occurred_at) >= (*organization)->max_accounts) {
      return quota_exceeded(**organization, Reason::kConstraintViolation);
    }
  }
  return Status::ok();
}

Status validate_organization_created(const Registry& state, const fb::OrganizationCreated& event,
                                     Micros occurred_at) {
  const std::string_view org_id = text(event.org_id());
  ORGLEDGER_RETURN_IF_ERROR(check_org_id(org_id));
  const std::string_view root_id = text(event.root_id());
  if (!is_root_id(root_id)) {
    return invalid_input("root id " + in_quotes(root_id) +
                         " must be \"r-\" followed by 4 to 32 lower-case letters or digits");
  }
  if (event.feature_set() != fb::FeatureSet::ALL &&
      event.feature_set() != fb::FeatureSet::CONSOLIDATED_BILLING) {
    return invalid_input("feature set must be ALL or CONSOLIDATED_BILLING");
  }
  if (state.find_organization(org_id) != nullptr) {
    return Status(Code::kAlreadyExists, Reason::kDuplicateOrganization,
                  "organization " + in_quotes(org_id) + " already exists (ids are never reused)");
  }
  if (state.root_ids.contains(root_id)) {
    return Status(Code::kAlreadyExists, Reason::kDuplicateOrganization,
                  "root " + in_quotes(root_id) + " already belongs to another organization");
  }
  const std::string_view management_id = text(event.management_account_id());
  auto account = existing_account(state, management_id);
  if (!account.is_ok()) return account.status();
  if ((*account)->status != AccountStatus::kActive) {
    return Status(
        Code::kFailedPrecondition, Reason::kAccountSuspended,
        "account " + in_quotes(management_id) + " is closed and cannot manage an organization");
  }
  if (const Membership* membership = (*account)->current_membership()) {
    return Status(Code::kFailedPrecondition, Reason::kAlreadyInOrganization,
                  "account " + in_quotes(management_id) + " already belongs to organization " +
                      in_quotes(membership->org_id));
  }
  if (!(*account)->secured()) {
    return Status(Code::kFailedPrecondition, Reason::kManagementAccountNotSecured,
                  "account " + in_quotes(management_id) + " must have a password set" +
                      ((*account)->password_set ? "" : " (PasswordSet)") + " and MFA enabled" +
                      ((*account)->mfa_devices.empty() ? " (MfaEnabled)" : "") +
                      " before it can manage an organization");
  }
  return not_before(occurred_at, (*account)->changed_at, "account " + in_quotes(management_id));
}

// The account a credential is set for: it exists and is not closed.
Result<const Account*> securable_account(const Registry& state, std::string_view account_id) {
  auto account = existing_account(state, account_id);
  if (account.is_ok() && (*account)->status != AccountStatus::kActive) {
    return Status(Code::kFailedPrecondition, Reason::kAccountAlreadyClosed,
                  "account " + in_quotes(account_id) + " is closed");
  }
  return account;
}

// Securing an account changes its credentials, not its business history: these facts are in
// log order and do not take part in the occurred-time order of its changes.
Status validate_password_changed(const Registry& state, const fb::PasswordChanged& event) {
  return securable_account(state, text(event.account_id())).status();
}

Status validate_mfa_enabled(const Registry& state, const fb::MfaEnabled& event) {
  auto account = securable_account(state, text(event.account_id()));
  if (!account.is_ok()) return account.status();
  const std::string_view device_id = text(event.device_id());
  const bool well_formed = !device_id.empty() && device_id.size() <= 64 &&
                           std::all_of(device_id.begin(), device_id.end(), [](char c) {
                             return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
                           });
  if (!well_formed) {
    return invalid_input("device id " + in_quotes(device_id) +
                         " must be 1 to 64 letters, digits, '-', '_' or '.'");
  }
  if ((*account)->mfa_devices.contains(device_id)) {
    return Status(
        Code::kAlreadyExists, Reason::kMfaDeviceAlreadyEnabled,
        "account " + in_quotes((*account)->id) + " already has MFA device " + in_quotes(device_id));
  }
  return Status::ok();
}

Status validate_quota_set(const Registry& state, const fb::AccountQuotaSet& event) {
  auto organization = live_organization(state, text(event.org_id()));
  if (!organization.is_ok()) return organization.status();
  if (event.max_accounts() < 1) return invalid_input("max_accounts must be at least 1");
  return Status::ok();
}

Status validate_account_invited(const Registry& state, const fb::AccountInvited& event,
                                Micros occurred_at) {
  const std::string_view handshake_id = text(event.handshake_id());
  ORGLEDGER_RETURN_IF_ERROR(check_handshake_id(handshake_id));
  auto organization = live_organization(state, text(event.org_id()));
  if (!organization.is_ok()) return organization.status();
  const std::string_view account_id = text(event.account_id());
  auto account = existing_account(state, account_id);
  if (!account.is_ok()) return account.status();
  if (state.find_handshake(handshake_id) != nullptr) {
    return Status(Code::kAlreadyExists, Reason::kDuplicateHandshake,
                  "handshake id " + in_quotes(handshake_id) + " is already used");
  }
  ORGLEDGER_RETURN_IF_ERROR(not_before(occurred_at, (*organization)->created_at,
                                       "organization " + in_quotes((*organization)->id)));
  ORGLEDGER_RETURN_IF_ERROR(
      not_before(occurred_at, (*account)->created_at, "account " + in_quotes(account_id)));
  for (const std::string& open_id : (*organization)->open_invitation_ids) {
    const Handshake& open = state.handshakes.find(open_id)->second;
    if (open.account_id == account_id && open.state_at(occurred_at) == HandshakeState::kRequested) {
      return Status(Code::kAlreadyExists, Reason::kDuplicateHandshake,
                    "account " + in_quotes(account_id) + " already has a pending invitation " +
                        in_quotes(open.id) + " from this organization");
    }
  }
  if (const Membership* membership = (*account)->current_membership()) {
    return Status(Code::kFailedPrecondition, Reason::kHandshakeConstraintViolation,
                  "account " + in_quotes(account_id) + " already belongs to organization " +
                      in_quotes(membership->org_id),
                  "ALREADY_IN_AN_ORGANIZATION");
  }
  if ((*account)->status != AccountStatus::kActive) {
    return Status(Code::kFailedPrecondition, Reason::kAccountSuspended,
                  "account " + in_quotes(account_id) + " is closed and cannot be invited");
  }
  if ((*organization)->all_features_request) {
    return Status(Code::kFailedPrecondition, Reason::kHandshakeConstraintViolation,
                  "organization " + in_quotes((*organization)->id) +
                      " is enabling all features; invitations wait until it is done",
                  "INVITE_DISABLED_DURING_ENABLE_ALL_FEATURES");
  }
  if (state.quota_usage(**organization, occurred_at) >= (*organization)->max_accounts) {
    return quota_exceeded(**organization, Reason::kHandshakeConstraintViolation);
  }
  return Status::ok();
}

// The handshake named by a transition event, checked for existence and time order.
Result<const Handshake*> transitioning_handshake(const Registry& state,
                                                 const flatbuffers::String* id,
                                                 Micros occurred_at) {
  const std::string_view handshake_id = text(id);
  ORGLEDGER_RETURN_IF_ERROR(check_handshake_id(handshake_id));
  const Handshake* handshake = state.find_handshake(handshake_id);
  if (handshake == nullptr) return handshake_not_found(handshake_id);
  ORGLEDGER_RETURN_IF_ERROR(
      not_before(occurred_at, handshake->changed_at, "handshake " + in_quotes(handshake_id)));
  return handshake;
}

Status already_in_state(const Handshake& handshake, HandshakeState state) {
  return Status(Code::kFailedPrecondition, Reason::kHandshakeAlreadyInState,
                "handshake " + in_quotes(handshake.id) + " is already " +
                    std::string(handshake_state_name(state)));
}

Status invalid_transition(const Handshake& handshake, HandshakeState from, std::string_view to) {
  return Status(Code::kFailedPrecondition, Reason::kInvalidHandshakeTransition,
                "handshake " + in_quotes(handshake.id) + " is " +
                    std::string(handshake_state_name(from)) + " and cannot become " +
                    std::string(to));
}

Status validate_handshake_accepted(const Registry& state, const fb::HandshakeAccepted& event,
                                   Micros occurred_at) {
  auto found = transitioning_handshake(state, event.handshake_id(), occurred_at);
  if (!found.is_ok()) return found.status();
  const Handshake& handshake = **found;
  const HandshakeState current = handshake.state_at(occurred_at);
  if (current == HandshakeState::kAccepted) return already_in_state(handshake, current);
  if (current != HandshakeState::kRequested)
    return invalid_transition(handshake, current, "ACCEPTED");
  if (handshake.action == fb::HandshakeAction::ENABLE_ALL_FEATURES) {
    return Status::ok();  // the member approves; nobody joins or leaves
  }
  const Account& account = state.accounts.find(handshake.account_id)->second;
  if (const Organization* managed = managed_organization(state, account)) {
    return Status(Code::kFailedPrecondition, Reason::kMasterCannotLeaveOrganization,
                  "account " + in_quotes(account.id) + " is the management account of " +
                      in_quotes(managed->id) + " and cannot join another organization");
  }
  if (const Membership* membership = account.current_membership()) {
    return Status(Code::kFailedPrecondition, Reason::kHandshakeConstraintViolation,
                  "account " + in_quotes(account.id) + " already belongs to organization " +
                      in_quotes(membership->org_id),
                  "ALREADY_IN_AN_ORGANIZATION");
  }
  if (account.status != AccountStatus::kActive) {
    return Status(
        Code::kFailedPrecondition, Reason::kAccountSuspended,
        "account " + in_quotes(account.id) + " is closed and cannot join an organization");
  }
  ORGLEDGER_RETURN_IF_ERROR(not_before_usage(occurred_at, account));
  return not_before(occurred_at, account.changed_at, "account " + in_quotes(account.id));
}

Status validate_handshake_declined(const Registry& state, const fb::HandshakeDeclined& event,
                                   Micros occurred_at) {
  auto found = transitioning_handshake(state, event.handshake_id(), occurred_at);
  if (!found.is_ok()) return found.status();
  const HandshakeState current = (*found)->state_at(occurred_at);
  if (current == HandshakeState::kDeclined) return already_in_state(**found, current);
  if (current != HandshakeState::kRequested)
    return invalid_transition(**found, current, "DECLINED");
  return Status::ok();
}

Status validate_handshake_canceled(const Registry& state, const fb::HandshakeCanceled& event,
                                   Micros occurred_at) {
  auto found = transitioning_handshake(state, event.handshake_id(), occurred_at);
  if (!found.is_ok()) return found.status();
  const HandshakeState current = (*found)->state_at(occurred_at);
  if (current == HandshakeState::kCanceled) return already_in_state(**found, current);
  if (current != HandshakeState::kRequested)
    return invalid_transition(**found, current, "CANCELED");
  return Status::ok();
}

// A member leaving its organization, by removal (`org_id` given) or by itself.
Status validate_departure(const Registry& state, std::string_view account_id,
                          std::string_view org_id, Micros occurred_at) {
  auto account = existing_account(state, account_id);
  if (!account.is_ok()) return account.status();
  const Membership* membership = (*account)->current_membership();
  if (membership == nullptr || (!org_id.empty() && membership->org_id != org_id)) {
    return Status(Code::kNotFound, Reason::kAccountNotFound,
                  "account " + in_quotes(account_id) + " is not a member of " +
                      (org_id.empty() ? std::string("any organization")
                                      : "organization " + in_quotes(org_id)));
  }
  if (membership->payer_id == account_id) {
    return Status(Code::kFailedPrecondition, Reason::kMasterCannotLeaveOrganization,
                  "account " + in_quotes(account_id) +
                      " is the management account; delete the organization instead");
  }
  if (org_id.empty() && membership->method == JoinedMethod::kCreated &&
      occurred_at - (*account)->created_at < kLeaveWaitPeriod) {
    return Status(Code::kFailedPrecondition, Reason::kConstraintViolation,
                  "account " + in_quotes(account_id) + " was created in the organization on " +
                      format_time((*account)->created_at) + " and may leave only 4 days after that",
                  "WAIT_PERIOD_ACTIVE");
  }
  ORGLEDGER_RETURN_IF_ERROR(not_before_usage(occurred_at, **account));
  return not_before(occurred_at, (*account)->changed_at, "account " + in_quotes(account_id));
}

Status validate_account_removed(const Registry& state, const fb::AccountRemoved& event,
                                Micros occurred_at) {
  const std::string_view org_id = text(event.org_id());
  auto organization = live_organization(state, org_id);
  if (!organization.is_ok()) return organization.status();
  return validate_departure(state, text(event.account_id()), org_id, occurred_at);
}

Status validate_account_closed(const Registry& state, const fb::AccountClosed& event,
                               Micros occurred_at) {
  const std::string_view account_id = text(event.account_id());
  auto account = existing_account(state, account_id);
  if (!account.is_ok()) return account.status();
  if (const Organization* managed = managed_organization(state, **account)) {
    return Status(Code::kFailedPrecondition, Reason::kConstraintViolation,
                  "account " + in_quotes(account_id) + " is the management account of " +
                      in_quotes(managed->id) + "; delete the organization first",
                  "CANNOT_CLOSE_MANAGEMENT_ACCOUNT");
  }
  if ((*account)->status == AccountStatus::kSuspended) {
    return Status(Code::kFailedPrecondition, Reason::kAccountAlreadyClosed,
                  "account " + in_quotes(account_id) + " was already closed on " +
                      format_time((*account)->closed_at));
  }
  ORGLEDGER_RETURN_IF_ERROR(not_before_usage(occurred_at, **account));
  return not_before(occurred_at, (*account)->changed_at, "account " + in_quotes(account_id));
}

Status validate_organization_deleted(const Registry& state, const fb::OrganizationDeleted& event,
                                     Micros occurred_at) {
  auto organization = live_organization(state, text(event.org_id()));
  if (!organization.is_ok()) return organization.status();
  if ((*organization)->member_ids.size() > 1) {
    return Status(Code::kFailedPrecondition, Reason::kOrganizationNotEmpty,
                  "organization " + in_quotes((*organization)->id) + " still has " +
                      std::to_string((*organization)->member_ids.size() - 1) +
                      " member account(s) besides the management account");
  }
  ORGLEDGER_RETURN_IF_ERROR(not_before(occurred_at, (*organization)->changed_at,
                                       "organization " + in_quotes((*organization)->id)));
  const Account& management = state.accounts.find((*organization)->management_account_id)->second;
  return not_before(occurred_at, management.changed_at, "account " + in_quotes(management.id));
}

Status not_supported(fb::EventBody type) {
  return Status(Code::kFailedPrecondition, Reason::kEventNotSupported,
                std::string("event type ") + fb::EnumNameEventBody(type) +
                    " is part of the stored format but its rules are not enforced by this "
                    "version yet; it was not stored");
}

// ---- apply -------------------------------------------------------------------------------------

Account& account_of(Registry& state, std::string_view id) {
  return state.accounts.find(id)->second;
}
Organization& organization_of(Registry& state, std::string_view id) {
  return state.organizations.find(id)->second;
}

void join(Account& account, Organization& organization, Micros at, JoinedMethod method) {
  account.memberships.push_back(Membership{organization.id,
                                           organization.management_account_id,
                                           at,
                                           kForever,
                                           method,
                                           {{at, organization.root_id}}});
  account.changed_at = at;
  organization.member_ids.insert(account.id);
  organization.changed_at = std::max(organization.changed_at, at);
}

void depart(Registry& state, Account& account, Micros at) {
  Membership& membership = account.memberships.back();
  membership.left_at = at;
  account.changed_at = at;
  Organization& organization = organization_of(state, membership.org_id);
  organization.member_ids.erase(account.id);
  organization.changed_at = std::max(organization.changed_at, at);
}

void close_handshake(Registry& state, std::string_view id, HandshakeState state_after, Micros at) {
  Handshake& handshake = state.handshakes.find(id)->second;
  handshake.state = state_after;
  handshake.changed_at = at;
  organization_of(state, handshake.org_id).open_invitation_ids.erase(handshake.id);
}

}  // namespace

std::string_view account_status_name(AccountStatus status) {
  return status == AccountStatus::kActive ? "ACTIVE" : "SUSPENDED";
}

std::string_view joined_method_name(JoinedMethod method) {
  return method == JoinedMethod::kCreated ? "CREATED" : "INVITED";
}

std::string_view handshake_state_name(HandshakeState state) {
  switch (state) {
    case HandshakeState::kRequested:
      return "REQUESTED";
    case HandshakeState::kAccepted:
      return "ACCEPTED";
    case HandshakeState::kDeclined:
      return "DECLINED";
    case HandshakeState::kCanceled:
      return "CANCELED";
    case HandshakeState::kExpired:
      return "EXPIRED";
  }
  return "UNKNOWN";
}

const Membership* Account::current_membership() const {
  if (memberships.empty() || memberships.back().left_at != kForever) return nullptr;
  return &memberships.back();
}

const Membership* Account::membership_at(Micros time) const {
  for (auto it = memberships.rbegin(); it != memberships.rend(); ++it) {
    if (it->joined_at <= time && time < it->left_at) return &*it;
  }
  return nullptr;
}

const std::string& Membership::parent_at(Micros time) const {
  const std::string* parent = &parents.front().second;
  for (const auto& [from, id] : parents) {
    if (from <= time) parent = &id;
  }
  return *parent;
}

const Organization* Registry::organization_of_parent(std::string_view parent_id) const {
  if (auto ou = ous.find(parent_id); ou != ous.end()) return find_organization(ou->second.org_id);
  if (!root_ids.contains(parent_id)) return nullptr;
  for (const auto& [id, organization] : organizations) {
    if (organization.root_id == parent_id) return &organization;
  }
  return nullptr;
}

HandshakeState Handshake::state_at(Micros time) const {
  if (state == HandshakeState::kRequested && time >= expires_at) return HandshakeState::kExpired;
  return state;
}

const Account* Registry::find_account(std::string_view id) const {
  auto it = accounts.find(id);
  return it == accounts.end() ? nullptr : &it->second;
}

Account& Registry::add_account(Account account) {
  account.index = static_cast<uint32_t>(account_ids.size());
  account_ids.push_back(account.id);
  std::string id = account.id;
  return accounts.emplace(std::move(id), std::move(account)).first->second;
}

const Organization* Registry::find_organization(std::string_view id) const {
  auto it = organizations.find(id);
  return it == organizations.end() ? nullptr : &it->second;
}

const Handshake* Registry::find_handshake(std::string_view id) const {
  auto it = handshakes.find(id);
  return it == handshakes.end() ? nullptr : &it->second;
}

std::string_view Registry::payer_at(std::string_view account_id, Micros time) const {
  const Account* account = find_account(account_id);
  return account != nullptr ? std::string_view(account->payer_at(time)) : account_id;
}

size_t Registry::quota_usage(const Organization& organization, Micros time) const {
  size_t pending = 0;
  for (const std::string& id : organization.open_invitation_ids) {
    if (handshakes.find(id)->second.state_at(time) == HandshakeState::kRequested) ++pending;
  }
  return organization.member_ids.size() + pending;
}

Status validate(const Registry& state, const fb::Event& event, const EventContext& context) {
  if (context.usage_lookup != nullptr) *context.usage_lookup = UsageLookup{};
  const Micros occurred_at = event.occurred_at();
  if (occurred_at < 0) return invalid_input("occurred_at must not precede 1970-01-01T00:00:00Z");
  if (occurred_at > context.recorded_at + kMaxFutureSkew) {
    return Status(Code::kInvalidArgument, Reason::kFutureTimestamp,
                  "occurred_at " + format_time(occurred_at) + " is more than 5 minutes after " +
                      "recorded_at " + format_time(context.recorded_at));
  }
  switch (section_of(event.body_type())) {
    case Section::kBilling:
      return validate_billing_event(state, event, context);
    case Section::kPolicies:
      return validate_policy_event(state, event);
    case Section::kOrganizations:
      break;
  }
  switch (event.body_type()) {
    case fb::EventBody::AccountCreated:
      return validate_account_created(state, *event.body_as_AccountCreated(), occurred_at);
    case fb::EventBody::OrganizationCreated:
      return validate_organization_created(state, *event.body_as_OrganizationCreated(),
                                           occurred_at);
    case fb::EventBody::AccountQuotaSet:
      return validate_quota_set(state, *event.body_as_AccountQuotaSet());
    case fb::EventBody::AccountInvited:
      return validate_account_invited(state, *event.body_as_AccountInvited(), occurred_at);
    case fb::EventBody::HandshakeAccepted:
      return validate_handshake_accepted(state, *event.body_as_HandshakeAccepted(), occurred_at);
    case fb::EventBody::HandshakeDeclined:
      return validate_handshake_declined(state, *event.body_as_HandshakeDeclined(), occurred_at);
    case fb::EventBody::HandshakeCanceled:
      return validate_handshake_canceled(state, *event.body_as_HandshakeCanceled(), occurred_at);
    case fb::EventBody::AccountRemoved:
      return validate_account_removed(state, *event.body_as_AccountRemoved(), occurred_at);
    case fb::EventBody::AccountLeft:
      return validate_departure(state, text(event.body_as_AccountLeft()->account_id()), {},
                                occurred_at);
    case fb::EventBody::AccountClosed:
      return validate_account_closed(state, *event.body_as_AccountClosed(), occurred_at);
    case fb::EventBody::OrganizationDeleted:
      return validate_organization_deleted(state, *event.body_as_OrganizationDeleted(),
                                           occurred_at);
    case fb::EventBody::PasswordChanged:
      return validate_password_changed(state, *event.body_as_PasswordChanged());
    case fb::EventBody::MfaEnabled:
      return validate_mfa_enabled(state, *event.body_as_MfaEnabled());
    case fb::EventBody::NONE:
      return invalid_input("event has no body");
    default:
      return not_supported(event.body_type());
  }
}

namespace {

void apply_event(Registry& state, const fb::Event& event, const EventContext& context) {
  switch (section_of(event.body_type())) {
    case Section::kBilling:
      apply_billing_event(state, event, context);
      return;
    case Section::kPolicies:
      apply_policy_event(state, event);
      return;
    case Section::kOrganizations:
      break;
  }
  const Micros at = event.occurred_at();
  switch (event.body_type()) {
    case fb::EventBody::AccountCreated: {
      const auto& body = *event.body_as_AccountCreated();
      Account account;
      account.id = std::string(text(body.account_id()));
      account.email = std::string(text(body.email()));
      account.name = std::string(text(body.name()));
      account.created_at = at;
      account.changed_at = at;
      state.account_by_email.emplace(lower_case(account.email), account.id);
      Account& stored = state.add_account(std::move(account));
      if (const std::string_view org_id = text(body.org_id()); !org_id.empty()) {
        join(stored, organization_of(state, org_id), at, JoinedMethod::kCreated);
      }
      break;
    }
    case fb::EventBody::OrganizationCreated: {
      const auto& body = *event.body_as_OrganizationCreated();
      Organization organization;
      organization.id = std::string(text(body.org_id()));
      organization.root_id = std::string(text(body.root_id()));
      organization.management_account_id = std::string(text(body.management_account_id()));
      organization.feature_set = body.feature_set();
      organization.created_at = at;
      organization.changed_at = at;
      state.root_ids.insert(organization.root_id);
      Organization& stored =
          state.organizations.emplace(organization.id, std::move(organization)).first->second;
      join(account_of(state, stored.management_account_id), stored, at, JoinedMethod::kCreated);
      break;
    }
    case fb::EventBody::AccountQuotaSet: {
      const auto& body = *event.body_as_AccountQuotaSet();
      organization_of(state, text(body.org_id())).max_accounts = body.max_accounts();
      break;
    }
    case fb::EventBody::AccountInvited: {
      const auto& body = *event.body_as_AccountInvited();
      Handshake handshake;
      handshake.id = std::string(text(body.handshake_id()));
      handshake.org_id = std::string(text(body.org_id()));
      handshake.account_id = std::string(text(body.account_id()));
      handshake.requested_at = at;
      handshake.expires_at = at + kInviteLifetime;
      handshake.changed_at = at;
      organization_of(state, handshake.org_id).open_invitation_ids.insert(handshake.id);
      state.handshakes.emplace(handshake.id, std::move(handshake));
      break;
    }
    case fb::EventBody::HandshakeAccepted: {
      const std::string_view id = text(event.body_as_HandshakeAccepted()->handshake_id());
      close_handshake(state, id, HandshakeState::kAccepted, at);
      const Handshake& handshake = state.handshakes.find(id)->second;
      if (handshake.action != fb::HandshakeAction::INVITE) break;
      join(account_of(state, handshake.account_id), organization_of(state, handshake.org_id), at,
           JoinedMethod::kInvited);
      break;
    }
    case fb::EventBody::HandshakeDeclined:
      close_handshake(state, text(event.body_as_HandshakeDeclined()->handshake_id()),
                      HandshakeState::kDeclined, at);
      break;
    case fb::EventBody::HandshakeCanceled:
      close_handshake(state, text(event.body_as_HandshakeCanceled()->handshake_id()),
                      HandshakeState::kCanceled, at);
      break;
    case fb::EventBody::AccountRemoved:
      depart(state, account_of(state, text(event.body_as_AccountRemoved()->account_id())), at);
      break;
    case fb::EventBody::AccountLeft:
      depart(state, account_of(state, text(event.body_as_AccountLeft()->account_id())), at);
      break;
    case fb::EventBody::AccountClosed: {
      Account& account = account_of(state, text(event.body_as_AccountClosed()->account_id()));
      account.status = AccountStatus::kSuspended;
      account.closed_at = at;
      account.changed_at = at;
      break;
    }
    case fb::EventBody::OrganizationDeleted: {
      Organization& organization =
          organization_of(state, text(event.body_as_OrganizationDeleted()->org_id()));
      // Pending invitations die with the organization.
      const auto open = organization.open_invitation_ids;
      for (const std::string& id : open) close_handshake(state, id, HandshakeState::kCanceled, at);
      depart(state, account_of(state, organization.management_account_id), at);
      organization.deleted = true;
      organization.deleted_at = at;
      break;
    }
    case fb::EventBody::PasswordChanged:
      account_of(state, text(event.body_as_PasswordChanged()->account_id())).password_set = true;
      break;
    case fb::EventBody::MfaEnabled: {
      const auto& body = *event.body_as_MfaEnabled();
      account_of(state, text(body.account_id())).mfa_devices.emplace(text(body.device_id()));
      break;
    }
    default:
      break;  // validate refuses every other type, so none is ever stored
  }
}

}  // namespace

void apply(Registry& state, const fb::Event& event, const EventContext& context) {
  const fb::EventBody type = event.body_type();
  if (type == fb::EventBody::UsageRecorded || type == fb::EventBody::PriceScheduleSet ||
      type == fb::EventBody::BillingPeriodClosed) {
    apply_event(state, event, context);
    return;
  }
  // Who changed what: resolved before the event (a handshake's invitee), recorded after it (a
  // created account exists only then).
  const EventSubjects subjects = subjects_of(state, event);
  apply_event(state, event, context);
  const Change change{context.position, context.recorded_at, type, std::string(context.actor)};
  for (const std::string& id : subjects.account_ids) {
    if (auto account = state.accounts.find(id); account != state.accounts.end()) {
      account->second.changes.push_back(change);
    }
  }
  if (auto organization = state.organizations.find(subjects.org_id);
      organization != state.organizations.end()) {
    organization->second.changes.push_back(change);
  }
}

Hash digest(const Registry& state) {
  // The snapshot encoding is canonical (every field, maps in key order), so its SHA-256 is the
  // state digest: one serialization serves checkpoints and comparisons alike.
  return sha256(encode_snapshot(state));
}

}  // namespace orgledger

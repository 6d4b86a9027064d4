#include "projections/authorization.h"

#include "projections/rule_helpers.h"

namespace orgledger {
namespace {

using namespace rules;

Status access_denied(std::string message) {
  return Status(Code::kPermissionDenied, Reason::kAccessDenied, std::move(message));
}

std::string current_org_of(const Registry& state, std::string_view account_id) {
  const Account* account = state.find_account(account_id);
  if (account == nullptr) return {};
  const Membership* membership = account->current_membership();
  return membership == nullptr ? std::string() : membership->org_id;
}

bool manages(const Registry& state, const Principal& principal, std::string_view org_id) {
  const Organization* organization = state.find_organization(org_id);
  return organization != nullptr && organization->management_account_id == principal.id;
}

std::string who(const Principal& principal) {
  return principal.role == Role::kAccount ? "account " + in_quotes(principal.id)
                                          : "operator " + in_quotes(principal.id) + " (" +
                                                std::string(role_name(principal.role)) + ")";
}

Status denied_event(const Principal& principal, const fb::Event& event, std::string_view rule) {
  return access_denied(who(principal) + " may not append " +
                       fb::EnumNameEventBody(event.body_type()) + ": " + std::string(rule));
}

}  // namespace

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kIngest:
      return "ingest";
    case Role::kAuditor:
      return "auditor";
    case Role::kAccount:
      return "account";
  }
  return "unknown";
}

std::string Principal::actor() const {
  return (role == Role::kAccount ? "account:" : "operator:") + id;
}

Principal local_operator() { return Principal{Role::kAdmin, "local"}; }

EventSubjects subjects_of(const Registry& state, const fb::Event& event) {
  EventSubjects subjects;
  auto account = [&](std::string_view id) { subjects.account_ids.emplace_back(id); };
  auto handshake = [&](const flatbuffers::String* id) {
    if (const Handshake* found = state.find_handshake(text(id))) {
      subjects.org_id = found->org_id;
      account(found->account_id);
    }
  };
  auto policy = [&](const flatbuffers::String* id) {
    if (auto found = state.policies.find(text(id)); found != state.policies.end()) {
      subjects.org_id = found->second.org_id;
    }
  };
  switch (event.body_type()) {
    case fb::EventBody::AccountCreated: {
      const auto& body = *event.body_as_AccountCreated();
      account(text(body.account_id()));
      subjects.org_id = text(body.org_id());
      break;
    }
    case fb::EventBody::OrganizationCreated: {
      const auto& body = *event.body_as_OrganizationCreated();
      account(text(body.management_account_id()));
      subjects.org_id = text(body.org_id());
      break;
    }
    case fb::EventBody::AccountQuotaSet:
      subjects.org_id = text(event.body_as_AccountQuotaSet()->org_id());
      break;
    case fb::EventBody::AccountInvited: {
      const auto& body = *event.body_as_AccountInvited();
      account(text(body.account_id()));
      subjects.org_id = text(body.org_id());
      break;
    }
    case fb::EventBody::HandshakeAccepted:
      handshake(event.body_as_HandshakeAccepted()->handshake_id());
      break;
    case fb::EventBody::HandshakeDeclined:
      handshake(event.body_as_HandshakeDeclined()->handshake_id());
      break;
    case fb::EventBody::HandshakeCanceled:
      handshake(event.body_as_HandshakeCanceled()->handshake_id());
      break;
    case fb::EventBody::AccountRemoved: {
      const auto& body = *event.body_as_AccountRemoved();
      account(text(body.account_id()));
      subjects.org_id = text(body.org_id());
      break;
    }
    case fb::EventBody::AccountLeft: {
      const std::string_view id = text(event.body_as_AccountLeft()->account_id());
      account(id);
      subjects.org_id = current_org_of(state, id);
      break;
    }
    case fb::EventBody::AccountClosed:
      account(text(event.body_as_AccountClosed()->account_id()));
      break;
    case fb::EventBody::OrganizationDeleted: {
      subjects.org_id = text(event.body_as_OrganizationDeleted()->org_id());
      if (const Organization* organization = state.find_organization(subjects.org_id)) {
        account(organization->management_account_id);
      }
      break;
    }
    case fb::EventBody::AllFeaturesEnableRequested:
      subjects.org_id = text(event.body_as_AllFeaturesEnableRequested()->org_id());
      break;
    case fb::EventBody::AllFeaturesEnabled:
      subjects.org_id = text(event.body_as_AllFeaturesEnabled()->org_id());
      break;
    case fb::EventBody::OrganizationalUnitCreated:
      if (const Organization* organization = state.organization_of_parent(
              text(event.body_as_OrganizationalUnitCreated()->parent_id()))) {
        subjects.org_id = organization->id;
      }
      break;
    case fb::EventBody::AccountMoved: {
      const std::string_view id = text(event.body_as_AccountMoved()->account_id());
      account(id);
      subjects.org_id = current_org_of(state, id);
      break;
    }
    case fb::EventBody::PolicyCreated:
      subjects.org_id = text(event.body_as_PolicyCreated()->org_id());
      break;
    case fb::EventBody::PolicyAttached: {
      const auto& body = *event.body_as_PolicyAttached();
      policy(body.policy_id());
      if (state.find_account(text(body.target_id())) != nullptr) account(text(body.target_id()));
      break;
    }
    case fb::EventBody::PolicyDetached: {
      const auto& body = *event.body_as_PolicyDetached();
      policy(body.policy_id());
      if (state.find_account(text(body.target_id())) != nullptr) account(text(body.target_id()));
      break;
    }
    case fb::EventBody::PolicyDeleted:
      policy(event.body_as_PolicyDeleted()->policy_id());
      break;
    case fb::EventBody::CreditGranted:
      account(text(event.body_as_CreditGranted()->account_id()));
      break;
    case fb::EventBody::CreditSharingSet:
      subjects.org_id = text(event.body_as_CreditSharingSet()->org_id());
      break;
    case fb::EventBody::PasswordChanged:
      account(text(event.body_as_PasswordChanged()->account_id()));
      break;
    case fb::EventBody::MfaEnabled:
      account(text(event.body_as_MfaEnabled()->account_id()));
      break;
    case fb::EventBody::PriceScheduleSet:
    case fb::EventBody::UsageRecorded:
    case fb::EventBody::BillingPeriodClosed:
    case fb::EventBody::NONE:
      break;
  }
  return subjects;
}

Status authorize_append(const Registry& state, const fb::Event& event, const Principal& principal) {
  const fb::EventBody type = event.body_type();
  switch (principal.role) {
    case Role::kAdmin:
      return Status::ok();
    case Role::kIngest:
      if (type == fb::EventBody::UsageRecorded || type == fb::EventBody::PriceScheduleSet) {
        return Status::ok();
      }
      return denied_event(principal, event, "the ingest role appends usage and prices only");
    case Role::kAuditor:
      return denied_event(principal, event, "the auditor role only reads");
    case Role::kAccount:
      break;
  }
  const EventSubjects subjects = subjects_of(state, event);
  auto is_subject_account = [&] {
    return subjects.account_ids.size() == 1 && subjects.account_ids.front() == principal.id;
  };
  switch (type) {
    case fb::EventBody::OrganizationCreated:
      if (is_subject_account()) return Status::ok();
      return denied_event(principal, event, "an account creates only the organization it manages");
    case fb::EventBody::AccountCreated:
      if (!subjects.org_id.empty() && manages(state, principal, subjects.org_id)) {
        return Status::ok();
      }
      return denied_event(principal, event,
                          "only the management account creates accounts in its organization "
                          "(standalone accounts are created by an operator)");
    case fb::EventBody::AccountQuotaSet:
    case fb::EventBody::AccountInvited:
    case fb::EventBody::AccountRemoved:
    case fb::EventBody::OrganizationDeleted:
    case fb::EventBody::AllFeaturesEnableRequested:
    case fb::EventBody::AllFeaturesEnabled:
    case fb::EventBody::OrganizationalUnitCreated:
    case fb::EventBody::AccountMoved:
    case fb::EventBody::PolicyCreated:
    case fb::EventBody::PolicyAttached:
    case fb::EventBody::PolicyDetached:
    case fb::EventBody::PolicyDeleted:
    case fb::EventBody::CreditSharingSet:
    case fb::EventBody::HandshakeCanceled:
      if (!subjects.org_id.empty() && manages(state, principal, subjects.org_id)) {
        return Status::ok();
      }
      return denied_event(principal, event,
                          type == fb::EventBody::HandshakeCanceled
                              ? "only the sender of an invitation (the management account) "
                                "cancels it"
                              : "only the management account changes its organization");
    case fb::EventBody::HandshakeAccepted:
    case fb::EventBody::HandshakeDeclined:
      if (is_subject_account()) return Status::ok();
      return denied_event(principal, event, "only the invited account accepts or declines");
    case fb::EventBody::AccountLeft:
    case fb::EventBody::AccountClosed:
    case fb::EventBody::PasswordChanged:
    case fb::EventBody::MfaEnabled:
      if (is_subject_account()) return Status::ok();
      return denied_event(principal, event, "an account does this only for itself");
    case fb::EventBody::PriceScheduleSet:
    case fb::EventBody::UsageRecorded:
    case fb::EventBody::CreditGranted:
    case fb::EventBody::BillingPeriodClosed:
    case fb::EventBody::NONE:
      break;
  }
  return denied_event(principal, event, "prices, usage, credits and closing are operator work");
}

Status authorize_read_log(const Principal& principal) {
  if (principal.role == Role::kAdmin || principal.role == Role::kAuditor) return Status::ok();
  return access_denied(who(principal) +
                       " may not read the raw log: reading, replaying and verifying the whole "
                       "log needs the admin or auditor role");
}

Status authorize_read_account(const Registry& state, const Principal& principal,
                              std::string_view account_id) {
  if (principal.role == Role::kAdmin || principal.role == Role::kAuditor) return Status::ok();
  if (principal.role == Role::kAccount) {
    if (principal.id == account_id) return Status::ok();
    const std::string org_id = current_org_of(state, account_id);
    if (!org_id.empty() && manages(state, principal, org_id)) return Status::ok();
  }
  return access_denied(who(principal) + " may not read account " + in_quotes(account_id) +
                       ": an account reads itself, the management account its organization");
}

Status authorize_read_organization(const Registry& state, const Principal& principal,
                                   std::string_view org_id) {
  if (principal.role == Role::kAdmin || principal.role == Role::kAuditor) return Status::ok();
  if (principal.role == Role::kAccount && manages(state, principal, org_id)) return Status::ok();
  return access_denied(who(principal) + " may not read organization " + in_quotes(org_id) +
                       ": only its management account reads the whole organization");
}

Status authorize_read_bill(const Principal& principal, std::string_view payer,
                           std::string_view account_id) {
  if (principal.role == Role::kAdmin || principal.role == Role::kAuditor) return Status::ok();
  if (principal.role == Role::kAccount &&
      (principal.id == payer || (!account_id.empty() && principal.id == account_id))) {
    return Status::ok();
  }
  return access_denied(
      who(principal) + " may not read " +
      (account_id.empty() ? "the consolidated bill of " + in_quotes(payer)
                          : "the charges of " + in_quotes(account_id)) +
      ": the payer reads its bill, a member only its own charges (ask for them with its "
      "account id)");
}

}  // namespace orgledger

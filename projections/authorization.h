// Who may do what (DOMAIN.md "Securing the management account"; docs/security.md): the
// principals a connection can act as, the account and organization each event concerns, and the
// checks of appends and reads against the state. Pure functions; thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "projections/registry.h"
#include "projections/status.h"

namespace orgledger {

// admin: everything. ingest: appends usage and prices only. auditor: reads, replays and
// verifies only. account: an account signed in with its password (and MFA), bound by the
// DOMAIN.md rules.
enum class Role : uint8_t { kAdmin, kIngest, kAuditor, kAccount };

std::string_view role_name(Role role);

struct Principal {
  Role role = Role::kAccount;
  std::string id;  // the account id, or the operator's name

  // What the log records as the record's actor: "account:ID" or "operator:NAME".
  std::string actor() const;
};

// The principal of embedded use (--data): whoever can open the store's files owns it.
Principal local_operator();

// The accounts and the organization an event concerns, resolved against the state before it
// (a handshake's organization and invitee, a policy's organization, an account's current
// organization). Usage and prices concern no one in particular.
struct EventSubjects {
  std::vector<std::string> account_ids;
  std::string org_id;  // "" when none
};
EventSubjects subjects_of(const Registry& state, const fb::Event& event);

// OK when `principal` may append `event` to `state`, else PermissionDenied/AccessDenied naming
// the rule. Only the management account changes its organization; only the invitee accepts or
// declines; only the sender (the management account) cancels; an account sets only its own
// password and MFA, leaves or closes only itself. Creating standalone accounts, credits and
// closing periods are operator (admin) work; ingest appends usage and prices only.
Status authorize_append(const Registry& state, const fb::Event& event, const Principal& principal);

// Reads. Operators with the admin or auditor role read everything. An account reads its own
// account and its own charges; the management account (the payer) reads its whole
// organization, its accounts and its consolidated bill.
// Read, Subscribe, Verify, Digest and Stats: the whole log and its totals.
Status authorize_read_log(const Principal& principal);
Status authorize_read_account(const Registry& state, const Principal& principal,
                              std::string_view account_id);
Status authorize_read_organization(const Registry& state, const Principal& principal,
                                   std::string_view org_id);
// `account_id` empty: the whole consolidated bill; else that account's charges on it.
Status authorize_read_bill(const Principal& principal, std::string_view payer,
                           std::string_view account_id);

}  // namespace orgledger

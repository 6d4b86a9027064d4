// Reports over a projected state: the views of an account, an organization and a bill (for
// people or as JSON) and the FOCUS cost export. The CLI prints them for an embedded store and
// the server returns the same text over the socket, so both paths show identical output.
// Pure functions of the state; thread-compatible.
#pragma once

#include <string>
#include <string_view>

#include "projections/registry.h"
#include "projections/status.h"
#include "projections/values.h"

namespace orgledger {

// With its organization path, the policies at each level and the services it may use, all
// at `now` (now, or the --as-of time). NotFound/AccountNotFound for an unknown account.
Result<std::string> render_account(const Registry& registry, const std::string& account_id,
                                   bool json, Micros now);

// `now` decides pending versus expired invitations. NotFound/AWSOrganizationsNotInUse for an
// unknown organization.
Result<std::string> render_organization(const Registry& registry, const std::string& org_id,
                                        bool json, Micros now);

// The consolidated bill (DOMAIN.md), as a table or as its canonical JSON; with `account_id`,
// only that account's charges on it (charges_of); with `summary`, without the per-account lines
// (usage types, corrections, credits, members and totals). NotFound/AccountNotFound for an
// unknown payer or account.
Result<std::string> render_bill(const Registry& registry, const std::string& payer, Month month,
                                bool json, const std::string& account_id = "",
                                bool summary = false);

// The FOCUS CSV of a payer's month (docs/billing.md "FOCUS export"), RFC 4180 with CRLF.
Result<std::string> render_focus(const Registry& registry, const std::string& payer, Month month);

}  // namespace orgledger

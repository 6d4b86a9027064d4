// Internal to projections/: small helpers shared by the rule files (registry.cpp, billing.cpp)
// so that the same error reads the same everywhere.
#pragma once

#include <string>
#include <string_view>

#include "projections/status.h"
#include "projections/values.h"
#include "schema/events_generated.h"

namespace orgledger::rules {

// A FlatBuffers string as a view; absent is empty.
inline std::string_view text(const flatbuffers::String* value) {
  return value == nullptr ? std::string_view() : value->string_view();
}

inline std::string in_quotes(std::string_view value) { return "\"" + std::string(value) + "\""; }

inline Status invalid_input(std::string message) {
  return Status(Code::kInvalidArgument, Reason::kInvalidInput, std::move(message));
}

inline Status account_not_found(std::string_view account_id) {
  return Status(Code::kNotFound, Reason::kAccountNotFound,
                "account " + in_quotes(account_id) + " does not exist");
}

inline Status organization_not_in_use(std::string_view org_id) {
  return Status(Code::kFailedPrecondition, Reason::kAWSOrganizationsNotInUse,
                "organization " + in_quotes(org_id) + " does not exist or has been deleted");
}

inline Status check_account_id(std::string_view id) {
  if (is_account_id(id)) return Status::ok();
  return invalid_input("account id " + in_quotes(id) + " must be exactly 12 digits");
}

}  // namespace orgledger::rules

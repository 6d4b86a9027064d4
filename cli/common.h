// Helpers shared by the subcommands.
#pragma once

#include <memory>
#include <string>

#include "engine/store.h"
#include "projections/registry.h"
#include "projections/status.h"

namespace orgledger::cli {

// Prints `error: CODE Reason: message` on stderr and returns the exit status 1.
int fail(const Status& status);

Status invalid(std::string message);

// Opens the store read-only (no lock, nothing created).
Result<std::unique_ptr<Store>> open_read_only(const std::string& data);

// The state as of `as_of`: "" = the head; digits = a log position; else an RFC 3339 time
// (recorded_at: what the log knew then).
Result<Registry> registry_as_of(const Store& store, const std::string& as_of);

}  // namespace orgledger::cli

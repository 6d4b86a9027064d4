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

// Prints a rendered report on stdout and returns 0, or its error and 1.
int print(const Result<std::string>& text);

// Opens the store read-only (no lock, nothing created).
Result<std::unique_ptr<Store>> open_read_only(const std::string& data);

}  // namespace orgledger::cli

#include "cli/common.h"

#include <cstdio>
#include <limits>

#include "projections/values.h"
#include "replay/fold.h"

namespace orgledger::cli {

int fail(const Status& status) {
  std::fprintf(stderr, "error: %s\n", status.to_string().c_str());
  return 1;
}

Status invalid(std::string message) {
  return Status(Code::kInvalidArgument, Reason::kInvalidInput, std::move(message));
}

Result<std::unique_ptr<Store>> open_read_only(const std::string& data) {
  return Store::open(data, StoreOptions{.read_only = true, .create_if_missing = false});
}

// The registry as of `as_of` ("" = the head; digits = a position; else an RFC 3339 time).
Result<Registry> registry_as_of(const Store& store, const std::string& as_of) {
  if (as_of.empty()) return replay_to_position(store, std::numeric_limits<uint64_t>::max());
  if (as_of.find_first_not_of("0123456789") == std::string::npos) {
    auto position = parse_decimal(as_of, 0);
    if (!position.is_ok()) return invalid("--as-of: " + position.status().message());
    return replay_to_position(store, static_cast<uint64_t>(*position));
  }
  auto time = parse_time(as_of);
  if (!time.is_ok()) {
    return invalid("--as-of must be a log position or an RFC 3339 time: " +
                   time.status().message());
  }
  return replay_until(store, *time);
}

}  // namespace orgledger::cli

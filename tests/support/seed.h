// The seed of a property test: ORGLEDGER_SEED=<n> when set (to rerun a failure), else random.
// Each test prints the seed it used.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <random>

namespace orgledger::testing {

inline uint64_t property_seed() {
  if (const char* fixed = std::getenv("ORGLEDGER_SEED")) return std::strtoull(fixed, nullptr, 10);
  return std::random_device{}();
}

}  // namespace orgledger::testing

// The seed of a property test: ORGLEDGER_SEED=<n> when set (to rerun a failure), else random.
// Each test prints the seed it used.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

namespace orgledger::testing {

inline uint64_t property_seed() {
  if (const char* fixed = std::getenv("ORGLEDGER_SEED")) return std::strtoull(fixed, nullptr, 10);
  return std::random_device{}();
}

// property_seed(), printed with the test's output as "<what> seed N (rerun with
// ORGLEDGER_SEED=N)".
inline uint64_t printed_seed(const char* what) {
  const uint64_t seed = property_seed();
  MESSAGE(std::string(what), " seed ", seed, " (rerun with ORGLEDGER_SEED=", seed, ")");
  return seed;
}

}  // namespace orgledger::testing

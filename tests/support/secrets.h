// The secrets the tests use to secure accounts through the engine and the server: a compliant
// password and a 160-bit TOTP seed (the event log never sees either).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "projections/values.h"

namespace orgledger::testing {

inline constexpr std::string_view kTestPassword = "Test-Passw0rd!";
inline constexpr std::string_view kTestTotpSeed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

// The wall clock, µs since the epoch.
Micros wall_clock_micros();

// The code of kTestTotpSeed at `now`.
std::string test_totp_code(Micros now);

// Gives a PasswordChanged or MfaEnabled input the test secret (the engine and the server need
// it; the code is for the time `now`, the engine's clock); other inputs are left as they are.
void attach_test_secret(AppendInput& input, Micros now = wall_clock_micros());

// Inputs for `events` with ids 1, 2, ... from `first_id` (big-endian in the last 8 bytes) and
// the test secrets attached.
std::vector<AppendInput> inputs_of(std::vector<fb::EventT> events, uint64_t first_id = 1);

}  // namespace orgledger::testing

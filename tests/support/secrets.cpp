#include "tests/support/secrets.h"

#include <chrono>

#include "projections/credentials.h"

namespace orgledger::testing {

Micros wall_clock_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string test_totp_code(Micros now) {
  return totp_code(decode_base32(kTestTotpSeed).value(), now / 1'000'000);
}

void attach_test_secret(AppendInput& input, Micros now) {
  if (input.event.body.type == fb::EventBody::PasswordChanged) {
    input.secret = CredentialSecret{std::string(kTestPassword), "", ""};
  } else if (input.event.body.type == fb::EventBody::MfaEnabled) {
    input.secret = CredentialSecret{"", std::string(kTestTotpSeed), test_totp_code(now)};
  }
}

std::vector<AppendInput> inputs_of(std::vector<fb::EventT> events, uint64_t first_id) {
  std::vector<AppendInput> inputs;
  for (size_t i = 0; i < events.size(); ++i) {
    AppendInput input;
    const uint64_t id = first_id + i;
    for (int b = 0; b < 8; ++b) input.event_id[15 - b] = static_cast<uint8_t>(id >> (8 * b));
    input.event = std::move(events[i]);
    attach_test_secret(input);
    inputs.push_back(std::move(input));
  }
  return inputs;
}

}  // namespace orgledger::testing

// The pure parts of securing accounts (DOMAIN.md "Securing the management account"): the
// password policy and TOTP (RFC 6238). Hashing lives in engine/password_hash.h (it needs
// randomness, which projections never use). Secrets handled here are never logged or stored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "projections/status.h"

namespace orgledger {

// The secret that goes with a PasswordChanged (password) or MfaEnabled (totp_seed in base32
// and a current code) event on its way in. It is checked, turned into a credential (an argon2id
// hash, or the seed) and dropped; the event is stored without it.
struct CredentialSecret {
  std::string password;
  std::string totp_seed;
  std::string code;
};

inline constexpr size_t kMinPasswordLength = 8;
inline constexpr size_t kMaxPasswordLength = 128;

// OK, or InvalidArgument/PasswordPolicyViolation saying which rule failed: 8 to 128 characters,
// at least one upper-case letter, one lower-case letter, one digit and one special character,
// and not equal to the account's email or name. The message never contains the password.
Status check_password_policy(std::string_view password, std::string_view email,
                             std::string_view name);

// RFC 4648 base32 without padding (what authenticator apps take).
std::string encode_base32(const std::vector<uint8_t>& bytes);

// RFC 4648 base32 (A-Z, 2-7; '=' padding and lower case accepted). InvalidArgument otherwise.
Result<std::vector<uint8_t>> decode_base32(std::string_view text);

inline constexpr int64_t kTotpStepSeconds = 30;
inline constexpr int kTotpDigits = 6;
// RFC 4226 section 4: a shared secret of at least 128 bits.
inline constexpr size_t kMinTotpKeyBytes = 16;

// The RFC 6238 code (HMAC-SHA-1, 30-second steps) of `key` for the step containing
// `unix_seconds`, zero-padded to `digits`.
std::string totp_code(const std::vector<uint8_t>& key, int64_t unix_seconds,
                      int digits = kTotpDigits);

// Checks `code` against the steps now-1, now and now+1 (one step of clock skew either way) and
// returns the matching step, provided it is later than `last_used_step` (a code is accepted
// once). nullopt when it does not match or was used.
std::optional<int64_t> verify_totp(const std::vector<uint8_t>& key, std::string_view code,
                                   int64_t unix_seconds, int64_t last_used_step);

}  // namespace orgledger

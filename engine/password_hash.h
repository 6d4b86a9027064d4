// Password hashing with argon2id (libsodium's crypto_pwhash_str): the only form in which a
// password is ever kept. Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "projections/status.h"

namespace orgledger {

// An argon2id hash string ("$argon2id$v=19$m=...") of `password`, with a random salt and
// libsodium's interactive limits. Internal when libsodium cannot initialise or allocate.
Result<std::string> hash_password(std::string_view password);

// Whether `password` matches `hash` (constant-time comparison inside libsodium).
bool verify_password(std::string_view hash, std::string_view password);

}  // namespace orgledger

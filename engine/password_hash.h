// Password hashing with argon2id (libsodium's crypto_pwhash_str): the only form in which a
// password is ever kept. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "projections/status.h"

namespace orgledger {

// An argon2id hash string ("$argon2id$v=19$m=...") of `password`, with a random salt and
// libsodium's interactive limits. Internal when libsodium cannot initialise or allocate.
Result<std::string> hash_password(std::string_view password);

// Fills `size` bytes with cryptographically secure random bytes (libsodium).
void random_bytes(uint8_t* bytes, size_t size);

// Overwrites a secret in memory (in a way the compiler may not elide) and empties it.
void wipe(std::string& secret);

// Whether `password` matches `hash` (constant-time comparison inside libsodium).
bool verify_password(std::string_view hash, std::string_view password);

}  // namespace orgledger

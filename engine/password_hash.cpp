#include "engine/password_hash.h"

#include <sodium.h>

#include <cstdlib>

namespace orgledger {
namespace {
bool sodium_ready() {
  static const bool ready = sodium_init() >= 0;  // thread-safe static initialisation
  return ready;
}
}  // namespace

Result<std::string> hash_password(std::string_view password) {
  if (!sodium_ready()) return Status(Code::kInternal, Reason::kNone, "libsodium is unavailable");
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(hash, password.data(), password.size(),
                            crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status(Code::kInternal, Reason::kNone, "argon2id hashing ran out of memory");
  }
  return std::string(hash);
}

void random_bytes(uint8_t* bytes, size_t size) {
  if (!sodium_ready()) std::abort();  // no safe randomness: never fall back to a weak one
  randombytes_buf(bytes, size);
}

void wipe(std::string& secret) {
  if (!secret.empty()) sodium_memzero(secret.data(), secret.size());
  secret.clear();
}

bool verify_password(std::string_view hash, std::string_view password) {
  if (!sodium_ready()) return false;
  const std::string terminated(hash);  // libsodium reads a NUL-terminated string
  return crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0;
}

}  // namespace orgledger

#include "projections/sha256.h"

// SHA256_Init/Update/Final are deprecated since OpenSSL 3.0 in favour of the EVP interface, which
// frees and allocates its provider's context on every EVP_DigestInit_ex: a seventh of the cost
// of hashing one ~250-byte record on one thread, more with every core hashing (docs/decisions.md).
// They remain in every OpenSSL 3 release and run the same SHA-extension code.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <stdexcept>

namespace orgledger {
namespace {

// SHA-256 fetched from OpenSSL's provider once: EVP_sha256() looks it up on every use.
const EVP_MD* sha256_algorithm() {
  static EVP_MD* const algorithm = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  // Failure here means OpenSSL lacks SHA-256: nothing sensible can follow.
  if (algorithm == nullptr) throw std::runtime_error("OpenSSL SHA-256 is unavailable");
  return algorithm;
}

// An OpenSSL digest context, freed with its owner.
struct DigestContext {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  DigestContext() = default;
  DigestContext(const DigestContext&) = delete;
  DigestContext& operator=(const DigestContext&) = delete;
  ~DigestContext() { EVP_MD_CTX_free(md); }
};

}  // namespace

struct Sha256::Context : DigestContext {};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  if (context_->md == nullptr ||
      EVP_DigestInit_ex(context_->md, sha256_algorithm(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL SHA-256 is unavailable");
  }
}

Sha256::~Sha256() = default;

void Sha256::add_bytes(std::string_view bytes) {
  EVP_DigestUpdate(context_->md, bytes.data(), bytes.size());
}

void Sha256::add_u64(uint64_t value) {
  unsigned char buffer[8];
  for (int i = 7; i >= 0; --i) {
    buffer[i] = static_cast<unsigned char>(value & 0xff);
    value >>= 8;
  }
  EVP_DigestUpdate(context_->md, buffer, sizeof buffer);
}

void Sha256::add_string(std::string_view text) {
  add_u64(text.size());
  add_bytes(text);
}

Hash Sha256::finish() {
  Hash hash{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(context_->md, hash.data(), &length);
  return hash;
}

Hash sha256(std::string_view bytes) {
  // The hot paths hash every record and every event's content, one short input at a time.
  SHA256_CTX context;
  Hash hash{};
  if (SHA256_Init(&context) != 1 || SHA256_Update(&context, bytes.data(), bytes.size()) != 1 ||
      SHA256_Final(hash.data(), &context) != 1) {
    throw std::runtime_error("OpenSSL SHA-256 failed");
  }
  return hash;
}

std::string to_hex(const uint8_t* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  text.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    text += kDigits[bytes[i] >> 4];
    text += kDigits[bytes[i] & 0xf];
  }
  return text;
}

}  // namespace orgledger

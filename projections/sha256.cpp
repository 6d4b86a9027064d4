#include "projections/sha256.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace orgledger {

struct Sha256::Context {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  // Failure here means OpenSSL cannot allocate or lacks SHA-256: nothing sensible can follow.
  if (context_->md == nullptr || EVP_DigestInit_ex(context_->md, EVP_sha256(), nullptr) != 1) {
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
  Hash hash{};
  EVP_Digest(bytes.data(), bytes.size(), hash.data(), nullptr, EVP_sha256(), nullptr);
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

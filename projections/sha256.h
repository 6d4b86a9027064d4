// SHA-256 through OpenSSL, with the length-prefixed field encoding the state digests use.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace orgledger {

using Hash = std::array<uint8_t, 32>;

// SHA-256 of `bytes` in one call.
Hash sha256(std::string_view bytes);
// Lower-case hex of any byte sequence.
std::string to_hex(const uint8_t* bytes, size_t size);
inline std::string to_hex(const Hash& hash) { return to_hex(hash.data(), hash.size()); }

// An incremental SHA-256. Fields are written with fixed-width or length-prefixed encodings so
// that distinct sequences of fields never hash the same bytes. Not thread-safe; not copyable.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void add_bytes(std::string_view bytes);  // raw, no prefix
  void add_string(std::string_view text);  // 8-byte length, then the bytes
  void add_u64(uint64_t value);            // 8 bytes big-endian
  void add_i64(int64_t value) { add_u64(static_cast<uint64_t>(value)); }
  Hash finish();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

}  // namespace orgledger

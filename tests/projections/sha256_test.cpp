// SHA-256: FIPS 180-4's test vectors, and the one-call hash against the incremental one (two
// OpenSSL interfaces) over inputs of every length around the 64-byte block.
#include "projections/sha256.h"

#include <doctest/doctest.h>

#include <string>

using namespace orgledger;

TEST_CASE("sha256: the standard's test vectors") {
  CHECK(to_hex(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(to_hex(sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(to_hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(to_hex(sha256(std::string(1'000'000, 'a'))) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: one call equals the incremental hash, at every length up to 300 bytes") {
  std::string bytes;
  for (size_t length = 0; length <= 300; ++length) {
    Sha256 incremental;
    incremental.add_bytes(bytes.substr(0, length / 3));
    incremental.add_bytes(bytes.substr(length / 3));
    INFO("length: ", length);
    CHECK(sha256(bytes) == incremental.finish());
    bytes += static_cast<char>('0' + length * 7 % 75);
  }
}

// argon2id password hashes (libsodium).
#include "engine/password_hash.h"

#include <doctest/doctest.h>

using namespace orgledger;

TEST_CASE("password hash: argon2id, salted, verifiable, never the password itself") {
  auto first = hash_password("Str0ng!pass");
  auto second = hash_password("Str0ng!pass");
  REQUIRE(first.is_ok());
  REQUIRE(second.is_ok());
  CHECK(first->starts_with("$argon2id$"));
  CHECK(*first != *second);  // a random salt each time
  CHECK(first->find("Str0ng!pass") == std::string::npos);
  CHECK(verify_password(*first, "Str0ng!pass"));
  CHECK(verify_password(*second, "Str0ng!pass"));
  CHECK_FALSE(verify_password(*first, "Str0ng!pasS"));
  CHECK_FALSE(verify_password("not a hash", "Str0ng!pass"));
}

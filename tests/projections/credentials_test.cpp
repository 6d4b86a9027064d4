// The password policy and TOTP of DOMAIN.md "Securing the management account" (groundwork for
// issue 5: the checks themselves, not yet wired to events or the socket).
#include "projections/credentials.h"

#include <doctest/doctest.h>

#include "tests/support/status_matchers.h"

using namespace orgledger;

namespace {
constexpr const char* kEmail = "billing@example.com";
constexpr const char* kName = "Example Corp";
}  // namespace

TEST_CASE("password: a compliant password passes") {
  CHECK_OK(check_password_policy("Str0ng!pass", kEmail, kName));
  CHECK_OK(check_password_policy("Aa1!Aa1!", kEmail, kName));                      // exactly 8
  CHECK_OK(check_password_policy(std::string(124, 'a') + "B1!x", kEmail, kName));  // exactly 128
}

TEST_CASE("password: each rule fails on its own with PasswordPolicyViolation") {
  struct Case {
    std::string password;
    std::string_view rule;
  };
  const Case cases[] = {
      {"Aa1!Aa1", "at least 8"},     {std::string(126, 'a') + "B1!", "at most 128"},
      {"str0ng!pass", "upper-case"}, {"STR0NG!PASS", "lower-case"},
      {"Strong!pass", "digit"},      {"Str0ngpass", "special"}};
  for (const Case& c : cases) {
    INFO("rule: ", c.rule);
    const Status status = check_password_policy(c.password, kEmail, kName);
    CHECK_FAILS_WITH(status, Code::kInvalidArgument, Reason::kPasswordPolicyViolation);
    CHECK(status.message().find(c.rule) != std::string::npos);
    CHECK(status.message().find(c.password) == std::string::npos);  // never echoes the secret
  }
}

TEST_CASE("password: equal to the account's email or name is refused") {
  CHECK_FAILS_WITH(check_password_policy("Bill1!@example.com", "Bill1!@example.com", kName),
                   Code::kInvalidArgument, Reason::kPasswordPolicyViolation);
  CHECK_FAILS_WITH(check_password_policy("Example Corp 1!", kEmail, "example corp 1!"),
                   Code::kInvalidArgument, Reason::kPasswordPolicyViolation);
}

TEST_CASE("totp: the SHA-1 test vectors of RFC 6238 Appendix B") {
  const std::string secret = "12345678901234567890";
  const std::vector<uint8_t> key(secret.begin(), secret.end());
  CHECK(totp_code(key, 59, 8) == "94287082");
  CHECK(totp_code(key, 1111111109, 8) == "07081804");
  CHECK(totp_code(key, 1111111111, 8) == "14050471");
  CHECK(totp_code(key, 1234567890, 8) == "89005924");
  CHECK(totp_code(key, 2000000000, 8) == "69279037");
  CHECK(totp_code(key, 20000000000, 8) == "65353130");
  CHECK(totp_code(key, 59) == "287082");  // six digits: the last six
}

TEST_CASE("totp: one step of skew either way is accepted, two are refused, a code only once") {
  const std::string secret = "12345678901234567890";
  const std::vector<uint8_t> key(secret.begin(), secret.end());
  const int64_t now = 1'700'000'000;
  const int64_t step = now / kTotpStepSeconds;
  CHECK(verify_totp(key, totp_code(key, now), now, 0) == step);
  CHECK(verify_totp(key, totp_code(key, now - 30), now, 0) == step - 1);
  CHECK(verify_totp(key, totp_code(key, now + 30), now, 0) == step + 1);
  CHECK_FALSE(verify_totp(key, totp_code(key, now - 60), now, 0).has_value());
  CHECK_FALSE(verify_totp(key, totp_code(key, now + 60), now, 0).has_value());
  // Reused within its window: refused once its step (or a later one) was accepted.
  CHECK_FALSE(verify_totp(key, totp_code(key, now), now, step).has_value());
}

TEST_CASE("totp: seeds are RFC 4648 base32") {
  // "12345678901234567890" in base32.
  auto key = decode_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  REQUIRE(key.is_ok());
  CHECK(std::string(key->begin(), key->end()) == "12345678901234567890");
  CHECK(decode_base32("gezdgnbv").is_ok());
  CHECK_FALSE(decode_base32("GEZD1NBV").is_ok());  // 1 is not base32
  CHECK_FALSE(decode_base32("GE==ZD").is_ok());
}

TEST_CASE("totp: base32 encoding round-trips and matches RFC 4648") {
  const std::string text = "12345678901234567890";
  CHECK(encode_base32(std::vector<uint8_t>(text.begin(), text.end())) ==
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  // RFC 4648 section 10, without padding.
  for (const auto& [plain, encoded] : {std::pair<std::string, std::string>{"f", "MY"},
                                       {"fo", "MZXQ"},
                                       {"foo", "MZXW6"},
                                       {"foob", "MZXW6YQ"},
                                       {"fooba", "MZXW6YTB"},
                                       {"foobar", "MZXW6YTBOI"}}) {
    const std::vector<uint8_t> bytes(plain.begin(), plain.end());
    CHECK(encode_base32(bytes) == encoded);
    CHECK(decode_base32(encoded).value() == bytes);
  }
}

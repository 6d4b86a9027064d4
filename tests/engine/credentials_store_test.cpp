// Secrets through the engine (the credentials family beside the log) and sign-in with them
// (Authenticator): operator tokens, password plus TOTP, lockout.
#include <doctest/doctest.h>
#include <unistd.h>

#include <fstream>

#include "engine/authenticator.h"
#include "engine/engine.h"
#include "engine/password_hash.h"
#include "engine/store_format.h"
#include "tests/support/events.h"
#include "tests/support/secrets.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

constexpr const char* kPayer = "111111111111";

struct Fixture {
  TempDir dir;
  Micros now = at("2026-11-26T12:00:00Z");
  std::unique_ptr<Engine> engine;

  Fixture() {
    EngineOptions options;
    options.clock = [this] { return now; };
    auto opened = Engine::open(dir.str(), options);
    REQUIRE(opened.is_ok());
    engine = std::move(*opened);
    REQUIRE_OK(append(account_created(kPayer, "billing@example.com", "Example Corp", "",
                                      "2026-09-01T00:00:00Z"))
                   .status);
  }

  AppendOutcome append(fb::EventT event, std::optional<CredentialSecret> secret = std::nullopt) {
    static uint8_t next = 0;
    std::vector<AppendInput> inputs(1);
    inputs[0].event_id[0] = 0xcc;
    inputs[0].event_id[1] = ++next;
    inputs[0].event_id[2] = static_cast<uint8_t>(now);
    inputs[0].event = std::move(event);
    inputs[0].secret = std::move(secret);
    return engine->append(std::move(inputs), kOperator);
  }

  std::optional<std::string> credential(const std::string& key) {
    return engine->store().get_credential(key).value();
  }
  uint64_t head() { return engine->store().head()->position; }
};

CredentialSecret password(std::string text) { return CredentialSecret{std::move(text), "", ""}; }
CredentialSecret totp(std::string seed, std::string code) {
  return CredentialSecret{"", std::move(seed), std::move(code)};
}

}  // namespace

TEST_CASE("credentials: a password is checked against the policy and kept only as argon2id") {
  Fixture f;
  const fb::EventT fact = password_changed(kPayer, "2026-11-26T12:00:00Z");
  CHECK_FAILS_WITH(f.append(fact).status, Code::kInvalidArgument, Reason::kSecretRequired);
  for (const char* weak : {"Sh0rt!", "alllower1!", "ALLUPPER1!", "NoDigits!!", "NoSpecial11",
                           "billing@example.com", "Example Corp"}) {
    INFO("password ", weak);
    const AppendOutcome refused = f.append(fact, password(weak));
    CHECK_FAILS_WITH(refused.status, Code::kInvalidArgument, Reason::kPasswordPolicyViolation);
    CHECK(refused.status.message().find(weak) == std::string::npos);
  }
  CHECK(f.head() == 1);
  CHECK_FALSE(f.credential(store_format::password_key(kPayer)).has_value());
  CHECK_FALSE(f.engine->registry().find_account(kPayer)->password_set);

  REQUIRE_OK(f.append(fact, password("Example-Corp-2026!")).status);
  CHECK(f.head() == 2);
  const auto hash = f.credential(store_format::password_key(kPayer));
  REQUIRE(hash.has_value());
  CHECK(hash->starts_with("$argon2id$"));
  CHECK(verify_password(*hash, "Example-Corp-2026!"));
  CHECK(f.engine->registry().find_account(kPayer)->password_set);
  // A secret goes only with the two events that need one.
  CHECK_FAILS_WITH(
      f.append(account_closed(kPayer, "2026-11-26T12:00:00Z"), password("Example-Corp-2026!"))
          .status,
      Code::kInvalidArgument, Reason::kInvalidInput);
}

TEST_CASE("credentials: MFA is enabled only with a valid seed and a current code") {
  Fixture f;
  const fb::EventT fact = mfa_enabled(kPayer, "phone", "2026-11-26T12:00:00Z");
  const std::string seed(kTestTotpSeed);
  CHECK_FAILS_WITH(f.append(fact).status, Code::kInvalidArgument, Reason::kSecretRequired);
  CHECK_FAILS_WITH(f.append(fact, totp("not base32!", "123456")).status, Code::kInvalidArgument,
                   Reason::kInvalidInput);
  CHECK_FAILS_WITH(f.append(fact, totp("JBSWY3DPEHPK3PXP", test_totp_code(f.now))).status,
                   Code::kInvalidArgument, Reason::kInvalidInput);  // 80 bits: too short
  CHECK_FAILS_WITH(f.append(fact, totp(seed, test_totp_code(f.now - 120'000'000))).status,
                   Code::kInvalidArgument, Reason::kInvalidMfaCode);
  CHECK(f.head() == 1);
  CHECK_FALSE(f.credential(store_format::totp_key(kPayer, "phone")).has_value());

  REQUIRE_OK(f.append(fact, totp(seed, test_totp_code(f.now))).status);
  const auto entry = f.credential(store_format::totp_key(kPayer, "phone"));
  REQUIRE(entry.has_value());
  const auto decoded = store_format::decode_totp_entry(*entry);
  REQUIRE(decoded.has_value());
  CHECK(decoded->first == f.now / 1'000'000 / 30);  // the step that confirmed it is used
  CHECK(f.engine->registry().find_account(kPayer)->mfa_devices.contains("phone"));
  CHECK_FAILS_WITH(f.append(fact, totp(seed, test_totp_code(f.now))).status, Code::kAlreadyExists,
                   Reason::kMfaDeviceAlreadyEnabled);
}

TEST_CASE("credentials: a refused request leaves no credential behind") {
  Fixture f;
  std::vector<AppendInput> inputs(2);
  inputs[0].event_id[0] = 0xdd;
  inputs[0].event = password_changed(kPayer, "2026-11-26T12:00:00Z");
  inputs[0].secret = password("Example-Corp-2026!");
  inputs[1].event_id[0] = 0xde;
  inputs[1].event = account_closed("999999999999", "2026-11-26T12:00:00Z");
  const AppendOutcome outcome = f.engine->append(std::move(inputs), kOperator);
  CHECK_FAILS_WITH(outcome.status, Code::kNotFound, Reason::kAccountNotFound);
  CHECK(outcome.failed_index == 1);
  CHECK_FALSE(f.credential(store_format::password_key(kPayer)).has_value());
}

TEST_CASE("sign-in: password and TOTP, a code accepted once, one step of skew") {
  Fixture f;
  REQUIRE_OK(
      f.append(password_changed(kPayer, "2026-11-26T12:00:00Z"), password("Example-Corp-2026!"))
          .status);
  Authenticator authenticator(f.engine->credential_store(), {});
  auto sign_in = [&](std::string secret, std::string code, Micros now) {
    return authenticator.authenticate(Credentials{"", kPayer, std::move(secret), std::move(code)},
                                      "127.0.0.1", now);
  };
  // Without MFA the password is enough.
  const auto signed_in = sign_in("Example-Corp-2026!", "", f.now);
  REQUIRE_OK(signed_in.status);
  CHECK(signed_in.principal.actor() == "account:111111111111");
  CHECK_FAILS_WITH(sign_in("Example-Corp-2026?", "", f.now).status, Code::kUnauthenticated,
                   Reason::kAuthenticationFailed);
  CHECK_FAILS_WITH(authenticator
                       .authenticate(Credentials{"", "999999999999", "Example-Corp-2026!", ""},
                                     "127.0.0.1", f.now)
                       .status,
                   Code::kUnauthenticated, Reason::kAuthenticationFailed);

  REQUIRE_OK(f.append(mfa_enabled(kPayer, "phone", "2026-11-26T12:00:00Z"),
                      totp(std::string(kTestTotpSeed), test_totp_code(f.now)))
                 .status);
  const Micros step = 30'000'000;
  // Now the code is required; the enabling code was used; the next step's works once.
  CHECK_FAILS_WITH(sign_in("Example-Corp-2026!", "", f.now).status, Code::kUnauthenticated,
                   Reason::kAuthenticationFailed);
  CHECK_FAILS_WITH(sign_in("Example-Corp-2026!", test_totp_code(f.now), f.now).status,
                   Code::kUnauthenticated, Reason::kAuthenticationFailed);
  CHECK_OK(sign_in("Example-Corp-2026!", test_totp_code(f.now + step), f.now).status);
  CHECK_FAILS_WITH(sign_in("Example-Corp-2026!", test_totp_code(f.now + step), f.now).status,
                   Code::kUnauthenticated, Reason::kAuthenticationFailed);
  // Later: a device one step behind is accepted, two steps behind refused.
  const Micros later = f.now + 10 * step;
  CHECK_FAILS_WITH(sign_in("Example-Corp-2026!", test_totp_code(later - 2 * step), later).status,
                   Code::kUnauthenticated, Reason::kAuthenticationFailed);
  CHECK_OK(sign_in("Example-Corp-2026!", test_totp_code(later - step), later).status);
  // The right code with the wrong password is refused.
  CHECK_FAILS_WITH(sign_in("Wrong-Passw0rd!", test_totp_code(later + step), later).status,
                   Code::kUnauthenticated, Reason::kAuthenticationFailed);
}

TEST_CASE("sign-in: failures are slowed down, then locked out for a while, per account") {
  Fixture f;
  REQUIRE_OK(
      f.append(password_changed(kPayer, "2026-11-26T12:00:00Z"), password("Example-Corp-2026!"))
          .status);
  LockoutPolicy policy;
  policy.slow_after = 1;
  policy.lock_after = 3;
  policy.lock_for = std::chrono::seconds(60);
  policy.first_delay = std::chrono::milliseconds(100);
  Authenticator authenticator(f.engine->credential_store(), {}, policy);
  const Credentials wrong{"", kPayer, "Wrong-Passw0rd!", ""};
  const Credentials right{"", kPayer, "Example-Corp-2026!", ""};
  Micros now = f.now;
  auto first = authenticator.authenticate(wrong, "10.0.0.1", now);
  CHECK(first.delay.count() == 0);
  auto second = authenticator.authenticate(wrong, "10.0.0.2", now);
  CHECK(second.delay == std::chrono::milliseconds(100));
  auto third = authenticator.authenticate(wrong, "10.0.0.3", now);
  CHECK(third.delay == std::chrono::milliseconds(200));
  // Locked for this account from any address, even with the right password.
  CHECK_FAILS_WITH(authenticator.authenticate(right, "10.0.0.4", now + 59'000'000).status,
                   Code::kResourceExhausted, Reason::kLockedOut);
  CHECK_OK(authenticator.authenticate(right, "10.0.0.4", now + 61'000'000).status);
  // A success clears the count.
  CHECK(authenticator.authenticate(wrong, "10.0.0.5", now + 62'000'000).delay.count() == 0);
}

TEST_CASE("sign-in: operator tokens from an auth file of hashes") {
  TempDir dir;
  auto admin = new_operator_token("ops", Role::kAdmin);
  auto ingest = new_operator_token("meter", Role::kIngest);
  REQUIRE(admin.is_ok());
  REQUIRE(ingest.is_ok());
  CHECK(admin->token.starts_with("olt_"));
  CHECK(admin->token.size() == 4 + 64);
  CHECK(admin->auth_line.find(admin->token) == std::string::npos);
  const std::string path = dir.str() + "/auth";
  {
    std::ofstream out(path);
    out << "# operators\n\n" << admin->auth_line << "\n" << ingest->auth_line << "\n";
  }
  auto tokens = load_auth_file(path);
  REQUIRE(tokens.is_ok());
  REQUIRE(tokens->size() == 2);
  CHECK((*tokens)[0].name == "ops");
  CHECK((*tokens)[0].role == Role::kAdmin);
  CHECK((*tokens)[0].token_hash == token_hash(admin->token));

  Fixture f;
  Authenticator authenticator(f.engine->credential_store(), *tokens);
  auto signed_in = authenticator.authenticate(Credentials{ingest->token, "", "", ""}, "::1", f.now);
  REQUIRE_OK(signed_in.status);
  CHECK(signed_in.principal.actor() == "operator:meter");
  CHECK(signed_in.principal.role == Role::kIngest);
  CHECK_FAILS_WITH(
      authenticator.authenticate(Credentials{admin->token + "x", "", "", ""}, "::1", f.now).status,
      Code::kUnauthenticated, Reason::kAuthenticationFailed);

  auto refused = [&](const std::string& content) {
    {
      std::ofstream out(path);
      out << content;
    }
    auto loaded = load_auth_file(path);
    INFO("content: ", content);
    CHECK_FAILS_WITH(loaded.status(), Code::kInvalidArgument, Reason::kInvalidInput);
    if (!loaded.is_ok()) CHECK(loaded.status().message().find(path + ":1") == 0);
  };
  refused("ops superuser sha256:" + std::string(64, 'a') + "\n");
  refused("ops admin " + admin->token + "\n");  // a token, not its hash
  refused("ops admin sha256:" + std::string(63, 'a') + "\n");
  refused("ops admin\n");
  refused("ops admin sha256:" + std::string(64, 'a') + " extra\n");
  refused("bad/name admin sha256:" + std::string(64, 'a') + "\n");
  {
    std::ofstream out(path);
    out << admin->auth_line << "\n" << admin->auth_line << "\n";
  }
  CHECK_FAILS_WITH(load_auth_file(path).status(), Code::kInvalidArgument, Reason::kInvalidInput);
  CHECK_FAILS_WITH(load_auth_file(dir.str() + "/absent").status(), Code::kNotFound,
                   Reason::kInvalidInput);
}

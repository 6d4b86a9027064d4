// Authentication on the socket (docs/security.md): operator tokens from the --auth file, and
// accounts signing in with their password (argon2id, kept in the credentials store) plus a TOTP
// code when they have MFA. Repeated failures for one account or from one address are slowed
// down, then locked out for a while.
//
// Thread-safety: every method may be called from any thread. authenticate() blocks for the
// argon2id verification (tens of milliseconds): call it off the I/O threads.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/store.h"
#include "projections/authorization.h"
#include "projections/sha256.h"
#include "projections/status.h"

namespace orgledger {

// One line of the --auth file: "NAME ROLE sha256:HEX", HEX the SHA-256 of the token. Tokens are
// 256 random bits, so a plain hash suffices: nothing short enough to guess is ever hashed.
struct OperatorToken {
  std::string name;
  Role role = Role::kAuditor;
  Hash token_hash{};
};

// Reads an --auth file. Blank lines and lines starting with '#' are skipped. InvalidArgument
// naming the line for anything else that is not NAME ROLE sha256:HEX with a role of admin,
// ingest or auditor, or a name used twice; NotFound when the file cannot be read.
Result<std::vector<OperatorToken>> load_auth_file(const std::string& path);

// A new random operator token ("olt_" + 64 hex digits) and its --auth file line.
struct NewToken {
  std::string token;
  std::string auth_line;
};
Result<NewToken> new_operator_token(std::string_view name, Role role);

// The SHA-256 of a token, as the --auth file keeps it.
Hash token_hash(std::string_view token);

// What a client presents (AuthenticateRequest).
struct Credentials {
  std::string token;
  std::string account_id;
  std::string password;
  std::string totp_code;
};

struct LockoutPolicy {
  int slow_after = 3;                          // failures before answers are delayed
  int lock_after = 10;                         // failures before the lockout
  std::chrono::seconds lock_for{15 * 60};      // how long a lockout lasts
  std::chrono::milliseconds first_delay{250};  // doubled per further failure
  std::chrono::milliseconds max_delay{4000};
  std::chrono::seconds forget_after{15 * 60};  // failures older than this are forgotten
};

class Authenticator {
 public:
  // `store` must outlive it; it reads passwords and TOTP keys and records the TOTP step each
  // sign-in used (a code is accepted once).
  Authenticator(Store& store, std::vector<OperatorToken> tokens, LockoutPolicy policy = {});

  struct Outcome {
    Status status;        // OK, Unauthenticated/AuthenticationFailed or
                          // ResourceExhausted/LockedOut; the message never holds a secret
    Principal principal;  // when OK
    std::chrono::milliseconds delay{0};  // answer no earlier than this (slowing down guessing)
  };
  // Checks `credentials` from `address` (the peer's IP) at `now` (µs since epoch).
  Outcome authenticate(const Credentials& credentials, std::string_view address, Micros now);

 private:
  struct Failures {
    int count = 0;
    Micros last_failure = 0;
    Micros locked_until = 0;
  };

  Status verify(const Credentials& credentials, Micros now, Principal& principal);
  // Records a failure for each key; returns the delay to apply.
  std::chrono::milliseconds record_failure(const std::vector<std::string>& keys, Micros now);

  Store& store_;
  std::vector<OperatorToken> tokens_;
  LockoutPolicy policy_;
  std::mutex mutex_;                          // guards failures_
  std::map<std::string, Failures> failures_;  // "account:ID" or "address:IP"
  std::mutex totp_mutex_;                     // makes a TOTP check and its step update one step
};

}  // namespace orgledger

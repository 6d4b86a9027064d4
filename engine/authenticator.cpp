#include "engine/authenticator.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "engine/password_hash.h"
#include "engine/store_format.h"
#include "projections/credentials.h"

namespace orgledger {
namespace {

namespace format = store_format;

constexpr std::string_view kTokenPrefix = "olt_";
constexpr std::string_view kHashPrefix = "sha256:";

Status auth_file_error(const std::string& path, size_t line, std::string message) {
  return Status(Code::kInvalidArgument, Reason::kInvalidInput,
                path + ":" + std::to_string(line) + ": " + std::move(message));
}

std::optional<Role> parse_role(std::string_view name) {
  for (Role role : {Role::kAdmin, Role::kIngest, Role::kAuditor}) {
    if (role_name(role) == name) return role;
  }
  return std::nullopt;
}

std::optional<Hash> parse_hash_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  Hash hash{};
  for (size_t i = 0; i < 32; ++i) {
    int value = 0;
    for (char c : hex.substr(2 * i, 2)) {
      int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (digit < 0) return std::nullopt;
      value = value * 16 + digit;
    }
    hash[i] = static_cast<uint8_t>(value);
  }
  return hash;
}

Status authentication_failed() {
  // One message for every cause: which part was wrong is not told.
  return Status(Code::kUnauthenticated, Reason::kAuthenticationFailed,
                "authentication failed: unknown token, or wrong account, password or MFA code");
}

}  // namespace

Hash token_hash(std::string_view token) { return sha256(token); }

Result<std::vector<OperatorToken>> load_auth_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Status(Code::kNotFound, Reason::kInvalidInput,
                  "cannot read the auth file \"" + path + "\"");
  }
  std::vector<OperatorToken> tokens;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line.front() == '#') continue;
    std::istringstream fields(line);
    std::string name, role, hash, extra;
    fields >> name >> role >> hash;
    if (name.empty()) continue;  // only blanks
    if (hash.empty() || (fields >> extra)) {
      return auth_file_error(path, number, "expected NAME ROLE sha256:HEX");
    }
    const bool name_ok =
        name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
        });
    if (!name_ok) {
      return auth_file_error(path, number, "a name is 1 to 64 letters, digits, '-', '_' or '.'");
    }
    const auto parsed_role = parse_role(role);
    if (!parsed_role) {
      return auth_file_error(path, number, "role \"" + role + "\" is not admin, ingest or auditor");
    }
    std::optional<Hash> parsed_hash;
    if (hash.starts_with(kHashPrefix))
      parsed_hash = parse_hash_hex(hash.substr(kHashPrefix.size()));
    if (!parsed_hash) {
      return auth_file_error(path, number,
                             "the token hash must be sha256: and 64 lower-case hex digits (the "
                             "file keeps hashes only, never tokens)");
    }
    if (std::any_of(tokens.begin(), tokens.end(),
                    [&](const OperatorToken& token) { return token.name == name; })) {
      return auth_file_error(path, number, "name \"" + name + "\" is used twice");
    }
    tokens.push_back(OperatorToken{name, *parsed_role, *parsed_hash});
  }
  return tokens;
}

Result<NewToken> new_operator_token(std::string_view name, Role role) {
  if (sodium_init() < 0) return Status(Code::kInternal, Reason::kNone, "libsodium is unavailable");
  uint8_t random[32];
  randombytes_buf(random, sizeof random);
  NewToken created;
  created.token = std::string(kTokenPrefix) + to_hex(random, sizeof random);
  sodium_memzero(random, sizeof random);
  const Hash hash = token_hash(created.token);
  created.auth_line = std::string(name) + " " + std::string(role_name(role)) + " " +
                      std::string(kHashPrefix) + to_hex(hash.data(), hash.size());
  return created;
}

Authenticator::Authenticator(Store& store, std::vector<OperatorToken> tokens, LockoutPolicy policy)
    : store_(store), tokens_(std::move(tokens)), policy_(policy) {}

Status Authenticator::verify(const Credentials& credentials, Micros now, Principal& principal) {
  if (!credentials.token.empty()) {
    const Hash presented = token_hash(credentials.token);
    for (const OperatorToken& token : tokens_) {
      if (sodium_memcmp(presented.data(), token.token_hash.data(), presented.size()) == 0) {
        principal = Principal{token.role, token.name};
        return Status::ok();
      }
    }
    return authentication_failed();
  }
  auto hash = store_.get_credential(format::password_key(credentials.account_id));
  if (!hash.is_ok()) return hash.status();
  // Without a stored password the hash check still runs, so timing does not tell whether the
  // account exists.
  static const std::string kDecoy = [] {
    auto decoy = hash_password("orgledger decoy password");
    return decoy.is_ok() ? *decoy : std::string();
  }();
  const bool password_ok =
      verify_password(hash->value_or(kDecoy), credentials.password) && hash->has_value();
  if (!password_ok) return authentication_failed();

  std::vector<std::pair<std::string, std::string>> devices;
  ORGLEDGER_RETURN_IF_ERROR(store_.scan_credentials(
      format::totp_prefix(credentials.account_id),
      [&](std::string_view key, std::string_view value) { devices.emplace_back(key, value); }));
  if (!devices.empty()) {
    std::lock_guard lock(totp_mutex_);  // check and record the step at once: a code works once
    bool accepted = false;
    for (const auto& [key, value] : devices) {
      const auto entry = format::decode_totp_entry(value);
      if (!entry) continue;
      const std::vector<uint8_t> seed(entry->second.begin(), entry->second.end());
      const auto step = verify_totp(seed, credentials.totp_code, now / 1'000'000, entry->first);
      if (!step) continue;
      ORGLEDGER_RETURN_IF_ERROR(
          store_.put_credential(key, format::encode_totp_entry(*step, entry->second)));
      accepted = true;
      break;
    }
    if (!accepted) return authentication_failed();
  }
  principal = Principal{Role::kAccount, credentials.account_id};
  return Status::ok();
}

std::chrono::milliseconds Authenticator::record_failure(const std::vector<std::string>& keys,
                                                        Micros now) {
  int worst = 0;
  const Micros forget =
      std::chrono::duration_cast<std::chrono::microseconds>(policy_.forget_after).count();
  const Micros lock =
      std::chrono::duration_cast<std::chrono::microseconds>(policy_.lock_for).count();
  for (const std::string& key : keys) {
    Failures& failures = failures_[key];
    if (failures.count > 0 && now - failures.last_failure > forget) failures = Failures{};
    ++failures.count;
    failures.last_failure = now;
    if (failures.count >= policy_.lock_after && failures.locked_until <= now) {
      failures.locked_until = now + lock;
      spdlog::warn("authentication locked out {} after {} failures for {} s", key, failures.count,
                   policy_.lock_for.count());
    }
    worst = std::max(worst, failures.count);
  }
  if (worst <= policy_.slow_after) return std::chrono::milliseconds(0);
  const int doublings = std::min(worst - policy_.slow_after - 1, 16);
  return std::min(policy_.max_delay, policy_.first_delay * (1 << doublings));
}

Authenticator::Outcome Authenticator::authenticate(const Credentials& credentials,
                                                   std::string_view address, Micros now) {
  Outcome outcome;
  std::vector<std::string> keys = {"address:" + std::string(address)};
  if (credentials.token.empty()) {
    if (!is_account_id(credentials.account_id)) {
      outcome.status = Status(Code::kInvalidArgument, Reason::kInvalidInput,
                              "authenticate with a token, or an account id (12 digits) and "
                              "its password");
      return outcome;
    }
    keys.push_back("account:" + credentials.account_id);
  }
  {
    std::lock_guard lock(mutex_);
    for (const std::string& key : keys) {
      auto found = failures_.find(key);
      if (found != failures_.end() && found->second.locked_until > now) {
        outcome.status = Status(
            Code::kResourceExhausted, Reason::kLockedOut,
            "too many failed attempts (" + key.substr(0, key.find(':')) + "); try again in " +
                std::to_string((found->second.locked_until - now + 999'999) / 1'000'000) + " s");
        return outcome;
      }
    }
  }
  // The slow part runs unlocked, so sign-ins do not queue behind each other.
  outcome.status = verify(credentials, now, outcome.principal);
  std::lock_guard lock(mutex_);
  if (outcome.status.is_ok()) {
    for (const std::string& key : keys) failures_.erase(key);
    spdlog::info("authenticated {} role={} from {}", outcome.principal.actor(),
                 role_name(outcome.principal.role), address);
    return outcome;
  }
  if (outcome.status.reason() == Reason::kAuthenticationFailed) {
    outcome.delay = record_failure(keys, now);
    spdlog::info("authentication failed {}{} from {}",
                 credentials.token.empty() ? "account:" : "operator token", credentials.account_id,
                 address);
  }
  return outcome;
}

}  // namespace orgledger

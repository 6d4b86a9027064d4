// The commands that set up sign-in (docs/security.md): operator tokens for the --auth file and
// TOTP seeds and codes for scripts and tests.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/authenticator.h"
#include "engine/password_hash.h"
#include "projections/credentials.h"
#include "projections/values.h"

namespace orgledger::cli {
namespace {

// Writes `content` to `path` (opened with `flags` | O_WRONLY | O_CREAT, mode 0600: readable by
// its owner only) and syncs it. AlreadyExists when O_EXCL is given and the file exists: a
// secret is never overwritten by accident.
Status write_private(const std::string& path, std::string_view content, int flags) {
  const int fd = ::open(path.c_str(), flags | O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status(errno == EEXIST ? Code::kAlreadyExists : Code::kUnavailable, Reason::kNone,
                  "cannot create \"" + path + "\"" + (errno == EEXIST ? ": it exists" : ""));
  }
  const ssize_t written = ::write(fd, content.data(), content.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (written != static_cast<ssize_t>(content.size()) || !synced) {
    return Status(Code::kUnavailable, Reason::kNone, "cannot write \"" + path + "\"");
  }
  return Status::ok();
}

}  // namespace

int run_token_create(const TokenArgs& args) {
  Role role;
  if (args.role == "admin") {
    role = Role::kAdmin;
  } else if (args.role == "ingest") {
    role = Role::kIngest;
  } else if (args.role == "auditor") {
    role = Role::kAuditor;
  } else {
    return fail(invalid("--role must be admin, ingest or auditor, not \"" + args.role + "\""));
  }
  // The existing file must be valid, and the name new in it.
  if (::access(args.auth_file.c_str(), F_OK) == 0) {
    auto existing = load_auth_file(args.auth_file);
    if (!existing.is_ok()) return fail(existing.status());
    for (const OperatorToken& token : *existing) {
      if (token.name == args.name) {
        return fail(
            Status(Code::kAlreadyExists, Reason::kInvalidInput,
                   "\"" + args.auth_file + "\" already has a token named \"" + args.name + "\""));
      }
    }
  }
  auto created = new_operator_token(args.name, role);
  if (!created.is_ok()) return fail(created.status());
  if (Status written = write_private(args.out, created->token + "\n", O_EXCL); !written.is_ok()) {
    return fail(written);
  }
  if (Status added = write_private(args.auth_file, created->auth_line + "\n", O_APPEND);
      !added.is_ok()) {
    ::unlink(args.out.c_str());
    return fail(added);
  }
  wipe(created->token);
  std::printf("token \"%s\" (%s) written to %s; its hash added to %s\n", args.name.c_str(),
              args.role.c_str(), args.out.c_str(), args.auth_file.c_str());
  return 0;
}

int run_totp_seed() {
  std::vector<uint8_t> key(20);  // 160 bits, RFC 4226's recommendation
  random_bytes(key.data(), key.size());
  std::string seed = encode_base32(key);
  std::printf("%s\n", seed.c_str());
  wipe(seed);
  return 0;
}

int run_totp_code(const TotpArgs& args) {
  std::optional<int64_t> at;
  if (!args.at.empty()) {
    auto time = parse_time(args.at);
    if (!time.is_ok()) return fail(time.status().with_context("--at"));
    at = *time / 1'000'000;
  }
  auto code = current_totp_code(args.seed_file, at);
  if (!code.is_ok()) return fail(code.status());
  std::printf("%s\n", code->c_str());
  return 0;
}

}  // namespace orgledger::cli

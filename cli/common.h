// Helpers shared by the subcommands.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "engine/client.h"
#include "engine/store.h"
#include "projections/registry.h"
#include "projections/status.h"

namespace orgledger::cli {

// Prints `error: CODE Reason: message` on stderr and returns the exit status 1.
int fail(const Status& status);

Status invalid(std::string message);

// Prints a rendered report on stdout and returns 0, or its error and 1.
int print(const Result<std::string>& text);

// Opens the store read-only (no lock, nothing created).
Result<std::unique_ptr<Store>> open_read_only(const std::string& data);

// The log a command reads: the embedded store (read-only) or a server's, fetched over the socket.
class SourceHandle {
 public:
  const RecordSource& get() const {
    return store ? static_cast<const RecordSource&>(*store) : *remote;
  }
  std::unique_ptr<Store> store;
  std::unique_ptr<Client> client;
  std::unique_ptr<RemoteRecordSource> remote;
};

Result<SourceHandle> open_source(const Location& location);

// The first line of a file holding a secret (a token, a password, a TOTP seed).
Result<std::string> read_secret_file(const std::string& path, std::string_view what);

// The TOTP code of the seed (base32) in `seed_file` at `unix_seconds` (default: now).
Result<std::string> current_totp_code(const std::string& seed_file,
                                      std::optional<int64_t> unix_seconds = std::nullopt);

// Connects to the server of `location` (with TLS when --tls-ca is given) and signs in with its
// token, or its account, password and TOTP code. Unauthenticated when it names no credentials.
Result<std::unique_ptr<Client>> connect(const Location& location);

}  // namespace orgledger::cli

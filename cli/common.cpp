#include "cli/common.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <limits>

#include "engine/password_hash.h"
#include "projections/credentials.h"
#include "projections/values.h"
#include "replay/fold.h"

namespace orgledger::cli {

int fail(const Status& status) {
  std::fprintf(stderr, "error: %s\n", status.to_string().c_str());
  return 1;
}

Status invalid(std::string message) {
  return Status(Code::kInvalidArgument, Reason::kInvalidInput, std::move(message));
}

int print(const Result<std::string>& text) {
  if (!text.is_ok()) return fail(text.status());
  std::fwrite(text->data(), 1, text->size(), stdout);
  return 0;
}

Result<std::unique_ptr<Store>> open_read_only(const std::string& data) {
  return Store::open(data, StoreOptions::existing_read_only());
}

Result<SourceHandle> open_source(const Location& location) {
  SourceHandle handle;
  if (location.connect.empty()) {
    auto store = open_read_only(location.data);
    if (!store.is_ok()) return store.status();
    handle.store = std::move(*store);
    return handle;
  }
  auto client = connect(location);
  if (!client.is_ok()) return client.status();
  handle.client = std::move(*client);
  handle.remote = std::make_unique<RemoteRecordSource>(*handle.client);
  return handle;
}

Result<std::string> read_secret_file(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(Code::kNotFound, Reason::kInvalidInput,
                  "cannot read the " + std::string(what) + " file \"" + path + "\"");
  }
  std::string secret;
  std::getline(in, secret);  // the first line; a trailing newline or CR is not part of it
  if (!secret.empty() && secret.back() == '\r') secret.pop_back();
  if (secret.empty()) {
    return Status(Code::kInvalidArgument, Reason::kInvalidInput,
                  "the " + std::string(what) + " file \"" + path + "\" is empty");
  }
  return secret;
}

Result<std::string> current_totp_code(const std::string& seed_file,
                                      std::optional<int64_t> unix_seconds) {
  auto seed = read_secret_file(seed_file, "TOTP seed");
  if (!seed.is_ok()) return seed.status();
  auto key = decode_base32(*seed);
  wipe(*seed);
  if (!key.is_ok()) return key.status().with_context("TOTP seed file \"" + seed_file + "\"");
  const int64_t now = unix_seconds.value_or(std::chrono::duration_cast<std::chrono::seconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  return totp_code(*key, now);
}

Result<std::unique_ptr<Client>> connect(const Location& location) {
  Credentials credentials;
  if (!location.token_file.empty()) {
    auto token = read_secret_file(location.token_file, "token");
    if (!token.is_ok()) return token.status();
    credentials.token = std::move(*token);
  } else if (!location.login.empty()) {
    if (location.password_file.empty()) {
      return invalid(
          "--login needs --password-file FILE (a file whose first line is the "
          "password; never a command-line argument)");
    }
    auto password = read_secret_file(location.password_file, "password");
    if (!password.is_ok()) return password.status();
    credentials.account_id = location.login;
    credentials.password = std::move(*password);
    if (!location.totp_code.empty()) {
      credentials.totp_code = location.totp_code;
    } else if (!location.totp_seed_file.empty()) {
      auto code = current_totp_code(location.totp_seed_file);
      if (!code.is_ok()) return code.status();
      credentials.totp_code = std::move(*code);
    }
  } else {
    return Status(Code::kUnauthenticated, Reason::kAuthenticationRequired,
                  "the server needs a sign-in: --token-file FILE (or ORGLEDGER_TOKEN_FILE), or "
                  "--login ACCOUNT --password-file FILE [--totp-seed-file FILE | --totp-code N]");
  }
  auto client = Client::connect(location.connect, ClientOptions{location.tls_ca});
  if (!client.is_ok()) return client.status();
  auto signed_in = (*client)->authenticate(credentials);
  wipe(credentials.password);
  wipe(credentials.token);
  if (!signed_in.is_ok()) return signed_in.status();
  return client;
}

}  // namespace orgledger::cli

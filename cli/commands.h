// The `orgledger` subcommands. Each returns the process exit status: 0 on success; on failure
// it has printed one line `error: CODE Reason: message` on stderr and returns 1.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace orgledger::cli {

// Where a command works: an embedded store (--data) or a server (--connect); exactly one.
struct Location {
  std::string data;
  std::string connect;
  // Signing in to the server (docs/security.md): an operator token, or an account's password
  // (plus a TOTP code, given or computed from the device's seed, when it has MFA).
  std::string token_file;
  std::string login;  // account id
  std::string password_file;
  std::string totp_code;
  std::string totp_seed_file;
  std::string tls_ca;  // connect with TLS, trusting this CA
};

struct ServeArgs {
  std::string data;
  std::string listen = "127.0.0.1:7400";
  std::string auth_file;
  std::string tls_cert;
  std::string tls_key;
  int lockout_after = 10;
  int64_t lockout_seconds = 15 * 60;
  size_t max_connections = 1024;
  int64_t idle_timeout_seconds = 60;
  size_t max_frame_bytes = 16 * 1024 * 1024;
  uint64_t checkpoint_every = 1'000'000;  // EngineOptions' default
};

struct AppendArgs {
  Location location;
  std::string file = "-";  // "-" is standard input
  bool json = false;
  bool digest = false;  // print the digest of the state after the append
};

// "--as-of POS|TIME": a log position or an RFC 3339 time.
struct ReadArgs {
  Location location;
  std::string as_of;
  bool json = false;
};

struct ReplayArgs {
  Location location;
  std::optional<uint64_t> to;
  std::string until;
  bool digest = false;
  bool json = false;
};

struct VerifyArgs {
  Location location;
  uint64_t from = 1;
  std::optional<uint64_t> to;
  bool json = false;
};

struct BillArgs {
  std::string payer;
  std::string month;
  std::string account;  // only this account's charges on the bill
  Location location;
  std::string as_of;
  bool json = false;
  bool summary = false;  // without the per-account lines
};

struct ExportArgs {
  std::string payer;
  std::string month;
  Location location;
  std::string output;  // "" or "-": standard output
};

struct TailArgs {
  Location location;
  uint64_t from = 1;
};

struct TokenArgs {
  std::string name;
  std::string role;
  std::string auth_file;
  std::string out;
};

struct TotpArgs {
  std::string seed_file;
  std::string at;  // RFC 3339 time; "" is now
};

int run_serve(const ServeArgs& args);
int run_token_create(const TokenArgs& args);
int run_totp_seed();
int run_totp_code(const TotpArgs& args);
int run_append(const AppendArgs& args);
int run_account(const std::string& account_id, const ReadArgs& args);
int run_org(const std::string& org_id, const ReadArgs& args);
int run_replay(const ReplayArgs& args);
int run_verify(const VerifyArgs& args);
int run_bill(const BillArgs& args);
int run_export_focus(const ExportArgs& args);
int run_tail(const TailArgs& args);

}  // namespace orgledger::cli

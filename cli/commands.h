// The `orgledger` subcommands. Each returns the process exit status: 0 on success; on failure
// it has printed one line `error: CODE Reason: message` on stderr and returns 1.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace orgledger::cli {

struct AppendArgs {
  std::string data;
  std::string file = "-";  // "-" is standard input
  bool json = false;
  bool digest = false;  // print the digest of the state the engine holds after the append
};

// "--as-of POS|TIME": a log position or an RFC 3339 time.
struct ReadArgs {
  std::string data;
  std::string as_of;
  bool json = false;
};

struct ReplayArgs {
  std::string data;
  std::optional<uint64_t> to;
  std::string until;
  bool digest = false;
  bool json = false;
};

struct VerifyArgs {
  std::string data;
  uint64_t from = 1;
  std::optional<uint64_t> to;
  bool json = false;
};

struct BillArgs {
  std::string payer;
  std::string month;
  std::string data;
  std::string as_of;
  bool json = false;
};

struct ExportArgs {
  std::string payer;
  std::string month;
  std::string data;
  std::string output;  // "" or "-": standard output
};

int run_append(const AppendArgs& args);
int run_account(const std::string& account_id, const ReadArgs& args);
int run_org(const std::string& org_id, const ReadArgs& args);
int run_replay(const ReplayArgs& args);
int run_verify(const VerifyArgs& args);
int run_bill(const BillArgs& args);
int run_export_focus(const ExportArgs& args);

}  // namespace orgledger::cli

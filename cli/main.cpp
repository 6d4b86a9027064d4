// orgledger: the command line (DESIGN.md "Command line").
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/commands.h"

int main(int argc, char** argv) {
  using namespace orgledger::cli;
  CLI::App app{"orgledger: an event-sourced ledger for consolidated billing"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "orgledger 0.1.0");

  AppendArgs append_args;
  auto* append = app.add_subcommand("append", "append JSON Lines events (FILE or - for stdin)");
  append->add_option("--data", append_args.data, "store directory (embedded)")->required();
  append->add_option("file", append_args.file, "JSON Lines file, or - for standard input");
  append->add_flag("--json", append_args.json, "one JSON result per input line");
  append->add_flag("--digest", append_args.digest,
                   "print the digest of the state after the append");

  std::string account_id;
  ReadArgs account_args;
  auto* account = app.add_subcommand("account", "show an account");
  account->add_option("id", account_id, "12-digit account id")->required();
  account->add_option("--data", account_args.data, "store directory (read-only)")->required();
  account->add_option("--as-of", account_args.as_of, "a log position or an RFC 3339 time");
  account->add_flag("--json", account_args.json, "JSON output");

  std::string org_id;
  ReadArgs org_args;
  auto* org = app.add_subcommand("org", "show an organization with its accounts");
  org->add_option("id", org_id, "organization id (o-...)")->required();
  org->add_option("--data", org_args.data, "store directory (read-only)")->required();
  org->add_option("--as-of", org_args.as_of, "a log position or an RFC 3339 time");
  org->add_flag("--json", org_args.json, "JSON output");

  ReplayArgs replay_args;
  auto* replay = app.add_subcommand("replay", "rebuild the projections from the log");
  replay->add_option("--data", replay_args.data, "store directory (read-only)")->required();
  auto* to = replay->add_option("--to", replay_args.to, "stop after this position");
  replay->add_option("--until", replay_args.until, "stop at this RFC 3339 time (recorded_at)")
      ->excludes(to);
  replay->add_flag("--digest", replay_args.digest, "print the state digest");
  replay->add_flag("--json", replay_args.json, "JSON output");

  VerifyArgs verify_args;
  auto* verify = app.add_subcommand("verify", "check the hash chain");
  verify->add_option("--data", verify_args.data, "store directory (read-only)")->required();
  verify->add_option("--from", verify_args.from, "first position to check");
  verify->add_option("--to", verify_args.to, "last position to check");
  verify->add_flag("--json", verify_args.json, "JSON output");

  BillArgs bill_args;
  auto* bill = app.add_subcommand("bill", "the consolidated bill of a payer for a month");
  bill->add_option("payer", bill_args.payer, "the paying (management) account id")->required();
  bill->add_option("month", bill_args.month, "YYYY-MM")->required();
  bill->add_option("--data", bill_args.data, "store directory (read-only)")->required();
  bill->add_option("--as-of", bill_args.as_of, "a log position or an RFC 3339 time");
  bill->add_flag("--json", bill_args.json, "JSON output (exact decimal strings)");

  ExportArgs export_args;
  auto* export_command = app.add_subcommand("export", "export billing data");
  export_command->require_subcommand(1);
  auto* focus = export_command->add_subcommand("focus", "the FOCUS cost CSV of a payer's month");
  focus->add_option("payer", export_args.payer, "the paying (management) account id")->required();
  focus->add_option("month", export_args.month, "YYYY-MM")->required();
  focus->add_option("--data", export_args.data, "store directory (read-only)")->required();
  focus->add_option("-o,--output", export_args.output, "output file (default: standard output)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);
  } catch (const CLI::ParseError& error) {
    std::fprintf(stderr, "error: InvalidArgument InvalidInput: %s (see orgledger --help)\n",
                 error.what());
    return 2;
  }

  if (append->parsed()) return run_append(append_args);
  if (account->parsed()) return run_account(account_id, account_args);
  if (org->parsed()) return run_org(org_id, org_args);
  if (replay->parsed()) return run_replay(replay_args);
  if (verify->parsed()) return run_verify(verify_args);
  if (bill->parsed()) return run_bill(bill_args);
  if (focus->parsed()) return run_export_focus(export_args);
  return 2;
}

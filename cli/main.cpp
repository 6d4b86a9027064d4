// orgledger: the command line (DESIGN.md "Command line").
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/commands.h"

namespace {

// Every command that reads or appends works either on an embedded store or over the socket.
void add_location(CLI::App* command, orgledger::cli::Location& location, const char* data_help) {
  auto* data = command->add_option("--data", location.data, data_help);
  auto* connect = command->add_option("--connect", location.connect, "server HOST:PORT");
  data->excludes(connect);
  // Signing in (--connect only).
  command->add_option("--token-file", location.token_file, "file holding an operator token")
      ->envname("ORGLEDGER_TOKEN_FILE");
  auto* login = command->add_option("--login", location.login, "sign in as this account id");
  command
      ->add_option("--password-file", location.password_file,
                   "file whose first line is the account's password")
      ->needs(login);
  command->add_option("--totp-code", location.totp_code, "the current MFA code")->needs(login);
  command
      ->add_option("--totp-seed-file", location.totp_seed_file,
                   "file holding the MFA device's base32 seed (the code is computed)")
      ->needs(login);
  command->add_option("--tls-ca", location.tls_ca, "connect with TLS, trusting this CA (PEM)")
      ->envname("ORGLEDGER_TLS_CA");
  command->callback([command, data, connect] {
    if (data->count() == 0 && connect->count() == 0) {
      throw CLI::RequiredError(command->get_name() + ": --data DIR or --connect HOST:PORT");
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  using namespace orgledger::cli;
  CLI::App app{"orgledger: an event-sourced ledger for consolidated billing"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "orgledger 0.1.0");

  ServeArgs serve_args;
  auto* serve = app.add_subcommand("serve", "serve the store over the socket");
  serve->add_option("--data", serve_args.data, "store directory")->required();
  serve->add_option("--listen", serve_args.listen, "HOST:PORT to listen on (port 0: any)")
      ->capture_default_str();
  serve->add_option("--max-connections", serve_args.max_connections, "open connections at most")
      ->capture_default_str();
  serve
      ->add_option("--idle-timeout", serve_args.idle_timeout_seconds,
                   "seconds a connection may stay silent")
      ->capture_default_str();
  serve->add_option("--max-frame-bytes", serve_args.max_frame_bytes, "largest frame accepted")
      ->capture_default_str();
  serve
      ->add_option("--checkpoint-every", serve_args.checkpoint_every,
                   "write a checkpoint of the state after this many new events (0: never)")
      ->capture_default_str();
  serve
      ->add_option("--auth", serve_args.auth_file,
                   "operator tokens: lines NAME ROLE sha256:HEX (see `orgledger token create`)")
      ->required();
  auto* tls_cert = serve->add_option("--tls-cert", serve_args.tls_cert, "TLS certificate (PEM)");
  auto* tls_key = serve->add_option("--tls-key", serve_args.tls_key, "TLS private key (PEM)");
  tls_cert->needs(tls_key);
  tls_key->needs(tls_cert);
  serve
      ->add_option("--lockout-after", serve_args.lockout_after,
                   "failed sign-ins (per account or address) before a lockout")
      ->capture_default_str();
  serve->add_option("--lockout-seconds", serve_args.lockout_seconds, "how long a lockout lasts")
      ->capture_default_str();

  TokenArgs token_args;
  auto* token = app.add_subcommand("token", "operator tokens for serve --auth");
  token->require_subcommand(1);
  auto* token_create = token->add_subcommand(
      "create", "make a token: the token goes to --out, its hash to the --auth file");
  token_create->add_option("--name", token_args.name, "the operator's name")->required();
  token_create->add_option("--role", token_args.role, "admin, ingest or auditor")->required();
  token_create->add_option("--auth", token_args.auth_file, "the auth file to add it to")
      ->required();
  token_create->add_option("--out", token_args.out, "new file for the token (mode 0600)")
      ->required();

  TotpArgs totp_args;
  auto* totp = app.add_subcommand("totp", "TOTP (MFA) helpers");
  totp->require_subcommand(1);
  auto* totp_seed = totp->add_subcommand("seed", "print a new random 160-bit seed in base32");
  auto* totp_code = totp->add_subcommand("code", "print the current code of a seed");
  totp_code->add_option("--seed-file", totp_args.seed_file, "file holding the base32 seed")
      ->required();
  totp_code->add_option("--at", totp_args.at, "the code at this RFC 3339 time instead of now");

  AppendArgs append_args;
  auto* append = app.add_subcommand("append", "append JSON Lines events (FILE or - for stdin)");
  add_location(append, append_args.location, "store directory (embedded; created if absent)");
  append->add_option("file", append_args.file, "JSON Lines file, or - for standard input");
  append->add_flag("--json", append_args.json, "one JSON result per input line");
  append->add_flag("--digest", append_args.digest,
                   "print the digest of the state after the append");

  std::string account_id;
  ReadArgs account_args;
  auto* account = app.add_subcommand("account", "show an account");
  account->add_option("id", account_id, "12-digit account id")->required();
  add_location(account, account_args.location, "store directory (read-only)");
  account->add_option("--as-of", account_args.as_of, "a log position or an RFC 3339 time");
  account->add_flag("--json", account_args.json, "JSON output");

  std::string org_id;
  ReadArgs org_args;
  auto* org = app.add_subcommand("org", "show an organization with its accounts");
  org->add_option("id", org_id, "organization id (o-...)")->required();
  add_location(org, org_args.location, "store directory (read-only)");
  org->add_option("--as-of", org_args.as_of, "a log position or an RFC 3339 time");
  org->add_flag("--json", org_args.json, "JSON output");

  BillArgs bill_args;
  auto* bill = app.add_subcommand("bill", "the consolidated bill of a payer for a month");
  bill->add_option("payer", bill_args.payer, "the paying (management) account id")->required();
  bill->add_option("month", bill_args.month, "YYYY-MM")->required();
  add_location(bill, bill_args.location, "store directory (read-only)");
  bill->add_option("--as-of", bill_args.as_of, "a log position or an RFC 3339 time");
  bill->add_flag("--json", bill_args.json, "JSON output (exact decimal strings)");
  bill->add_flag("--summary", bill_args.summary,
                 "without the per-account lines: usage types, corrections, credits, members, "
                 "totals");
  bill->add_option("--account", bill_args.account,
                   "only this account's charges on the bill (what a member may read)");

  ExportArgs export_args;
  auto* export_command = app.add_subcommand("export", "export billing data");
  export_command->require_subcommand(1);
  auto* focus = export_command->add_subcommand("focus", "the FOCUS cost CSV of a payer's month");
  focus->add_option("payer", export_args.payer, "the paying (management) account id")->required();
  focus->add_option("month", export_args.month, "YYYY-MM")->required();
  add_location(focus, export_args.location, "store directory (read-only)");
  focus->add_option("-o,--output", export_args.output, "output file (default: standard output)");

  ReplayArgs replay_args;
  auto* replay = app.add_subcommand("replay", "rebuild the projections from the log");
  add_location(replay, replay_args.location, "store directory (read-only)");
  auto* to = replay->add_option("--to", replay_args.to, "stop after this position");
  replay->add_option("--until", replay_args.until, "stop at this RFC 3339 time (recorded_at)")
      ->excludes(to);
  replay->add_flag("--digest", replay_args.digest, "print the state digest");
  replay->add_flag("--json", replay_args.json, "JSON output");

  VerifyArgs verify_args;
  auto* verify = app.add_subcommand("verify", "check the hash chain");
  add_location(verify, verify_args.location, "store directory (read-only)");
  verify->add_option("--from", verify_args.from, "first position to check");
  verify->add_option("--to", verify_args.to, "last position to check");
  verify->add_flag("--json", verify_args.json, "JSON output");

  TailArgs tail_args;
  auto* tail =
      app.add_subcommand("tail", "stored events as JSON Lines, then new ones as they come");
  add_location(tail, tail_args.location,
               "store directory (read-only: prints what is stored and exits)");
  tail->add_option("--from", tail_args.from, "first position")->capture_default_str();

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

  if (serve->parsed()) return run_serve(serve_args);
  if (token_create->parsed()) return run_token_create(token_args);
  if (totp_seed->parsed()) return run_totp_seed();
  if (totp_code->parsed()) return run_totp_code(totp_args);
  if (append->parsed()) return run_append(append_args);
  if (account->parsed()) return run_account(account_id, account_args);
  if (org->parsed()) return run_org(org_id, org_args);
  if (replay->parsed()) return run_replay(replay_args);
  if (verify->parsed()) return run_verify(verify_args);
  if (bill->parsed()) return run_bill(bill_args);
  if (focus->parsed()) return run_export_focus(export_args);
  if (tail->parsed()) return run_tail(tail_args);
  return 2;
}

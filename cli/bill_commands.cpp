// `orgledger bill` and `orgledger export focus`.
#include <cstdio>
#include <fstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/engine.h"
#include "projections/values.h"
#include "replay/fold.h"
#include "replay/reports.h"

namespace orgledger::cli {
namespace {

Status check_payer_and_month(const std::string& payer, const std::string& month) {
  if (!is_account_id(payer)) {
    return invalid("payer \"" + payer + "\" must be a 12-digit account id");
  }
  auto parsed = parse_month(month);
  return parsed.is_ok() ? Status::ok() : parsed.status();
}

// The state a bill is read from: the embedded store as of `as_of`, with the payer known.
Result<Registry> bill_state(const std::string& payer, const std::string& data,
                            const std::string& as_of) {
  auto store = open_read_only(data);
  if (!store.is_ok()) return store.status();
  // At the head, a checkpoint spares replaying the whole log.
  auto registry = as_of.empty() ? load_state(**store) : replay_as_of(**store, as_of);
  if (!registry.is_ok()) return registry.status();
  if (registry->find_account(payer) == nullptr) {
    return Status(Code::kNotFound, Reason::kAccountNotFound,
                  "account \"" + payer + "\" does not exist");
  }
  return registry;
}

}  // namespace

int run_bill(const BillArgs& args) {
  if (Status checked = check_payer_and_month(args.payer, args.month); !checked.is_ok()) {
    return fail(checked);
  }
  if (!args.location.connect.empty()) {
    auto client = connect(args.location);
    if (!client.is_ok()) return fail(client.status());
    return print((*client)->get_bill(args.payer, args.month, args.as_of, args.json, args.account,
                                     args.summary));
  }
  auto registry = bill_state(args.payer, args.location.data, args.as_of);
  if (!registry.is_ok()) return fail(registry.status());
  return print(render_bill(*registry, args.payer, *parse_month(args.month), args.json, args.account,
                           args.summary));
}

int run_export_focus(const ExportArgs& args) {
  if (Status checked = check_payer_and_month(args.payer, args.month); !checked.is_ok()) {
    return fail(checked);
  }
  Result<std::string> csv = std::string();
  if (!args.location.connect.empty()) {
    auto client = connect(args.location);
    if (!client.is_ok()) return fail(client.status());
    csv = (*client)->export_focus(args.payer, args.month);
  } else {
    auto registry = bill_state(args.payer, args.location.data, "");
    if (!registry.is_ok()) return fail(registry.status());
    csv = render_focus(*registry, args.payer, *parse_month(args.month));
  }
  if (!csv.is_ok()) return fail(csv.status());
  if (args.output.empty() || args.output == "-") {
    std::fwrite(csv->data(), 1, csv->size(), stdout);
    return 0;
  }
  std::ofstream out(args.output, std::ios::binary | std::ios::trunc);
  out.write(csv->data(), static_cast<std::streamsize>(csv->size()));
  out.close();
  if (!out) {
    return fail(Status(Code::kUnavailable, Reason::kNone, "cannot write \"" + args.output + "\""));
  }
  return 0;
}

}  // namespace orgledger::cli

// `orgledger bill` and `orgledger export focus`.
#include <fmt/core.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "cli/commands.h"
#include "cli/common.h"
#include "projections/billing.h"
#include "projections/values.h"

namespace orgledger::cli {
namespace {

std::string dollars(int64_t nano) { return format_cents(nano_to_cents(nano)); }

// FOCUS ServiceCategory for the services of the price catalogue.
std::string_view service_category(std::string_view service) {
  static const std::map<std::string_view, std::string_view> kCategories = {
      {"ec2", "Compute"},
      {"lambda", "Compute"},
      {"s3", "Storage"},
      {"ebs", "Storage"},
      {"cloudfront", "Networking"},
      {"vpc", "Networking"},
      {"sqs", "Integration"},
      {"sns", "Integration"},
      {"cloudwatch", "Management and Governance"},
      {"rds", "Databases"},
      {"dynamodb", "Databases"}};
  auto it = kCategories.find(service);
  return it == kCategories.end() ? "Other" : it->second;
}

// RFC 4180: a field with a comma, quote, CR or LF is quoted, quotes doubled.
std::string csv_field(std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(value);
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

struct Loaded {
  std::unique_ptr<Store> store;
  Registry registry;
  Bill bill;
};

Result<Loaded> load_bill(const std::string& payer, const std::string& month_text,
                         const std::string& data, const std::string& as_of) {
  if (!is_account_id(payer))
    return invalid("payer \"" + payer + "\" must be a 12-digit account id");
  auto month = parse_month(month_text);
  if (!month.is_ok()) return month.status();
  auto store = open_read_only(data);
  if (!store.is_ok()) return store.status();
  auto registry = registry_as_of(**store, as_of);
  if (!registry.is_ok()) return registry.status();
  if (registry->find_account(payer) == nullptr) {
    return Status(Code::kNotFound, Reason::kAccountNotFound,
                  "account \"" + payer + "\" does not exist");
  }
  auto bill = compute_bill(*registry, payer, *month);
  if (!bill.is_ok()) return bill.status();
  return Loaded{std::move(*store), std::move(*registry), std::move(*bill)};
}

}  // namespace

int run_bill(const BillArgs& args) {
  auto loaded = load_bill(args.payer, args.month, args.data, args.as_of);
  if (!loaded.is_ok()) return fail(loaded.status());
  const Bill& bill = loaded->bill;
  if (args.json) {
    std::puts(bill_to_json(bill).c_str());
    return 0;
  }
  std::map<std::string, std::string> units;
  for (const UsageTypeSummary& type : bill.usage_types) units[type.usage_type] = type.unit;

  fmt::print("Consolidated bill of {} ({}) for {}  [{}]\n", bill.payer_id, bill.payer_name,
             format_month(bill.month), bill.closed ? "closed" : "open: may still change");
  if (bill.lines.empty() && bill.corrections.empty()) {
    fmt::print("\n  no usage billed to this payer in {}\n", format_month(bill.month));
  }
  if (!bill.usage_types.empty()) {
    fmt::print("\n  {:<32} {:<12} {:>20} {:>16} {:>16}\n", "USAGE TYPE", "SERVICE", "QUANTITY",
               "CONSOLIDATED", "STANDALONE");
    for (const UsageTypeSummary& type : bill.usage_types) {
      fmt::print("  {:<32} {:<12} {:>20} {:>16} {:>16}\n", type.usage_type, type.service,
                 format_decimal(type.quantity, kQuantityScale) + " " + type.unit,
                 dollars(type.consolidated_cost), dollars(type.standalone_cost));
    }
    fmt::print("\n  {:<14} {:<32} {:>20} {:>16} {:>16}\n", "ACCOUNT", "USAGE TYPE", "QUANTITY",
               "STANDALONE", "BILLED");
    for (const BillLine& line : bill.lines) {
      fmt::print("  {:<14} {:<32} {:>20} {:>16} {:>16}\n", line.account_id, line.usage_type,
                 format_decimal(line.quantity, kQuantityScale) + " " + units[line.usage_type],
                 dollars(line.standalone_cost), dollars(line.billed_cost));
    }
  }
  if (!bill.corrections.empty()) {
    fmt::print("\n  CORRECTIONS (late usage of closed months)\n");
    fmt::print("  {:<14} {:<32} {:<8} {:>20} {:>16}\n", "ACCOUNT", "USAGE TYPE", "MONTH",
               "LATE QUANTITY", "AMOUNT");
    for (const CorrectionLine& line : bill.corrections) {
      fmt::print("  {:<14} {:<32} {:<8} {:>20} {:>16}\n", line.account_id, line.usage_type,
                 format_month(line.origin_month), format_decimal(line.quantity, kQuantityScale),
                 dollars(line.amount));
    }
  }
  if (!bill.credits.empty()) {
    fmt::print("\n  CREDITS\n");
    fmt::print("  {:<24} {:<14} {:<14} {:>16}  {}\n", "CREDIT", "OWNER", "APPLIED TO", "AMOUNT",
               "DESCRIPTION");
    for (const CreditApplication& credit : bill.credits) {
      fmt::print("  {:<24} {:<14} {:<14} {:>16}  {}\n", credit.credit_id, credit.owner_account_id,
                 credit.applied_account_id, "-" + dollars(credit.amount), credit.description);
    }
  }
  fmt::print("\n  {:<36} {:>16}\n", "usage (consolidated)", dollars(bill.usage_total));
  fmt::print("  {:<36} {:>16}\n", "corrections", dollars(bill.corrections_total));
  fmt::print("  {:<36} {:>16}\n", "credits",
             (bill.credits_total > 0 ? "-" : "") + dollars(bill.credits_total));
  fmt::print("  {:<36} {:>16}\n", "total", dollars(bill.total));
  fmt::print("  {:<36} {:>16}\n", "standalone (each account alone)",
             dollars(bill.standalone_total));
  fmt::print("  {:<36} {:>16}\n", "savings from consolidation", dollars(bill.savings));
  fmt::print("\n  INVOICE {} USD\n", format_cents(bill.invoice_cents));
  for (const MemberSummary& member : bill.members) {
    fmt::print("    {:<14} {:<28} {:>16}\n", member.account_id, member.name,
               format_cents(member.invoice_cents));
  }
  return 0;
}

int run_export_focus(const ExportArgs& args) {
  auto loaded = load_bill(args.payer, args.month, args.data, "");
  if (!loaded.is_ok()) return fail(loaded.status());
  const Bill& bill = loaded->bill;
  const Registry& registry = loaded->registry;
  auto name_of = [&](const std::string& account_id) {
    const Account* account = registry.find_account(account_id);
    return account == nullptr ? std::string() : account->name;
  };
  std::map<std::string, const UsageTypeSummary*> types;
  for (const UsageTypeSummary& type : bill.usage_types) types[type.usage_type] = &type;
  auto schedule_of = [&](const std::string& usage_type, Month month) {
    return registry.billing.schedule_for(usage_type, month);
  };

  const std::string period_start = format_time(month_start(bill.month));
  const std::string period_end = format_time(month_start(next_month(bill.month)));
  std::string csv =
      "BillingAccountId,BillingAccountName,SubAccountId,SubAccountName,BillingPeriodStart,"
      "BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeClass,"
      "ChargeDescription,BilledCost,EffectiveCost,ListCost,ContractedCost,BillingCurrency,"
      "ServiceName,ServiceCategory,SkuId,PricingQuantity,PricingUnit,InvoiceIssuerName,"
      "ProviderName,PublisherName\r\n";
  auto row = [&](const std::string& account_id, std::string_view charge_start,
                 std::string_view charge_end, std::string_view category,
                 std::string_view charge_class, std::string_view description, int64_t billed,
                 int64_t list, std::string_view service, std::string_view sku, std::string quantity,
                 std::string_view unit) {
    const std::string billed_text = format_decimal(billed, kAmountScale);
    const std::string fields[] = {bill.payer_id,
                                  bill.payer_name,
                                  account_id,
                                  name_of(account_id),
                                  period_start,
                                  period_end,
                                  std::string(charge_start),
                                  std::string(charge_end),
                                  std::string(category),
                                  std::string(charge_class),
                                  std::string(description),
                                  billed_text,
                                  billed_text,
                                  format_decimal(list, kAmountScale),
                                  billed_text,
                                  "USD",
                                  std::string(service),
                                  service.empty() ? "" : std::string(service_category(service)),
                                  std::string(sku),
                                  std::move(quantity),
                                  std::string(unit),
                                  "orgledger",
                                  "orgledger",
                                  "orgledger"};
    for (size_t i = 0; i < std::size(fields); ++i) {
      if (i > 0) csv += ',';
      csv += csv_field(fields[i]);
    }
    csv += "\r\n";
  };
  for (const BillLine& line : bill.lines) {
    const UsageTypeSummary& type = *types[line.usage_type];
    row(line.account_id, period_start, period_end, "Usage", "",
        line.usage_type + " used by " + line.account_id, line.billed_cost, line.standalone_cost,
        type.service, line.usage_type, format_decimal(line.quantity, kQuantityScale), type.unit);
  }
  for (const CorrectionLine& line : bill.corrections) {
    const PriceSchedule* schedule = schedule_of(line.usage_type, line.origin_month);
    row(line.account_id, format_time(month_start(line.origin_month)),
        format_time(month_start(next_month(line.origin_month))), "Usage", "Correction",
        "late " + line.usage_type + " usage of " + format_month(line.origin_month), line.amount,
        line.amount, schedule ? schedule->service : "", line.usage_type,
        format_decimal(line.quantity, kQuantityScale), schedule ? schedule->unit : "");
  }
  for (const CreditApplication& credit : bill.credits) {
    row(credit.applied_account_id, period_start, period_end, "Credit", "",
        "credit " + credit.credit_id +
            (credit.description.empty() ? "" : ": " + credit.description),
        -credit.amount, -credit.amount, "", "", "", "");
  }

  if (args.output.empty() || args.output == "-") {
    std::fwrite(csv.data(), 1, csv.size(), stdout);
    return 0;
  }
  std::ofstream out(args.output, std::ios::binary | std::ios::trunc);
  out.write(csv.data(), static_cast<std::streamsize>(csv.size()));
  out.close();
  if (!out) {
    return fail(Status(Code::kUnavailable, Reason::kNone, "cannot write \"" + args.output + "\""));
  }
  return 0;
}

}  // namespace orgledger::cli

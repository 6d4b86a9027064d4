#include "replay/reports.h"

#include <fmt/core.h>

#include <map>
#include <set>
#include <vector>

#include "projections/billing.h"
#include "projections/json_writer.h"
#include "projections/policies.h"

namespace orgledger {
namespace {

std::string time_or_dash(Micros time) { return time == kForever ? "-" : format_time(time); }

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

// The policies attached to `target_id` at `time`.
std::vector<const Policy*> attached_at(const Registry& registry, std::string_view target_id,
                                       Micros time) {
  std::vector<const Policy*> policies;
  if (auto it = registry.attachments.find(target_id); it != registry.attachments.end()) {
    for (const Attachment& attachment : it->second) {
      if (attachment.attached_at <= time && time < attachment.detached_at) {
        policies.push_back(&registry.policies.at(attachment.policy_id));
      }
    }
  }
  return policies;
}

std::string policy_labels(const std::vector<const Policy*>& policies) {
  if (policies.empty()) return "";
  std::string text = "  [";
  for (size_t i = 0; i < policies.size(); ++i) {
    text += (i == 0 ? "" : ", ") + policies[i]->id + " " + policies[i]->name;
  }
  return text + "]";
}

std::string statements_summary(const Policy& policy) {
  std::string text;
  for (const PolicyStatement& statement : policy.statements) {
    if (!text.empty()) text += "; ";
    text += statement.allow ? "Allow" : "Deny";
    for (const std::string& service : statement.services) text += " " + service;
  }
  return text;
}

// Every service the registry knows of: from price schedules and policy statements.
std::set<std::string> known_services(const Registry& registry) {
  std::set<std::string> services;
  for (const auto& [type, schedules] : registry.billing.prices.in_order()) {
    for (const auto& [month, schedule] : *schedules) services.insert(schedule.service);
  }
  for (const auto& [id, policy] : registry.policies) {
    for (const PolicyStatement& statement : policy.statements) {
      for (const std::string& service : statement.services) {
        if (service != "*") services.insert(service);
      }
    }
  }
  return services;
}

// The children of `parent_id` at `now`: organizational units, then member accounts.
void children_of(const Registry& registry, const Organization& organization,
                 const std::string& parent_id, Micros now, std::vector<std::string>& ous,
                 std::vector<std::string>& accounts) {
  for (const auto& [id, ou] : registry.ous) {
    if (ou.parent_id == parent_id && ou.created_at <= now) ous.push_back(id);
  }
  for (const std::string& member : organization.member_ids) {
    const Membership* membership = registry.accounts.at(member).current_membership();
    if (membership != nullptr && membership->parent_at(now) == parent_id)
      accounts.push_back(member);
  }
}

void tree_text(const Registry& registry, const Organization& organization,
               const std::string& node_id, Micros now, int depth, std::string& text) {
  std::vector<std::string> ous, accounts;
  children_of(registry, organization, node_id, now, ous, accounts);
  const std::string indent(2 * static_cast<size_t>(depth) + 4, ' ');
  for (const std::string& id : ous) {
    text += fmt::format("{}{} {}{}\n", indent, id, registry.ous.at(id).name,
                        policy_labels(attached_at(registry, id, now)));
    tree_text(registry, organization, id, now, depth + 1, text);
  }
  for (const std::string& id : accounts) {
    text += fmt::format("{}{} {}{}{}\n", indent, id, registry.accounts.at(id).name,
                        id == organization.management_account_id ? " (management)" : "",
                        policy_labels(attached_at(registry, id, now)));
  }
}

void tree_json(const Registry& registry, const Organization& organization,
               const std::string& node_id, std::string_view kind, std::string_view name, Micros now,
               JsonWriter& out) {
  out.begin_object().field("id", node_id).field("kind", kind).field("name", name);
  out.key("policies").begin_array();
  for (const Policy* policy : attached_at(registry, node_id, now)) out.value(policy->id);
  out.end_array();
  if (kind != "account") {
    std::vector<std::string> ous, accounts;
    children_of(registry, organization, node_id, now, ous, accounts);
    out.key("children").begin_array();
    for (const std::string& id : ous) {
      tree_json(registry, organization, id, "organizational_unit", registry.ous.at(id).name, now,
                out);
    }
    for (const std::string& id : accounts) {
      tree_json(registry, organization, id, "account", registry.accounts.at(id).name, now, out);
    }
    out.end_array();
  }
  out.end_object();
}

}  // namespace

namespace {

void changes_json(JsonWriter& out, const std::vector<Change>& changes) {
  out.key("changes").begin_array();
  for (const Change& change : changes) {
    out.begin_object()
        .field("position", change.position)
        .field("recorded_at", format_time(change.recorded_at))
        .field("type", fb::EnumNameEventBody(change.type))
        .field("actor", change.actor)
        .end_object();
  }
  out.end_array();
}

// Who did what: one line per stored event that changed it.
std::string changes_text(const std::vector<Change>& changes) {
  if (changes.empty()) return {};
  std::string text = fmt::format("\n  changes (who did what)\n    {:>10} {:<28} {:<28} {}\n",
                                 "POSITION", "RECORDED", "EVENT", "ACTOR");
  for (const Change& change : changes) {
    text += fmt::format("    {:>10} {:<28} {:<28} {}\n", change.position,
                        format_time(change.recorded_at), fb::EnumNameEventBody(change.type),
                        change.actor);
  }
  return text;
}

std::string devices_text(const Account& account) {
  std::string devices;
  for (const std::string& device : account.mfa_devices) {
    devices += (devices.empty() ? "" : " ") + device;
  }
  return devices;
}

}  // namespace

Result<std::string> render_account(const Registry& registry, const std::string& account_id,
                                   bool json, Micros now) {
  std::string text;
  const Account* account = registry.find_account(account_id);
  if (account == nullptr) {
    return Status(Code::kNotFound, Reason::kAccountNotFound,
                  "account \"" + account_id + "\" does not exist");
  }
  const Membership* current = account->current_membership();
  // Where it sits at `now`, the policies on the way, and the services it may use then.
  const std::vector<PathLevel> path = policy_path(registry, account_id, now);
  std::vector<std::string> allowed, denied;
  for (const std::string& service : known_services(registry)) {
    (check_permission(registry, account_id, service, now).is_ok() ? allowed : denied)
        .push_back(service);
  }
  if (json) {
    JsonWriter out;
    out.begin_object()
        .field("account_id", account->id)
        .field("name", account->name)
        .field("email", account->email)
        .field("status", account_status_name(account->status))
        .field("created_at", format_time(account->created_at));
    out.key("closed_at");
    account->closed_at == kForever ? out.null() : out.value(format_time(account->closed_at));
    out.key("org_id");
    current ? out.value(current->org_id) : out.null();
    out.field("payer_id", current ? current->payer_id : account->id);
    out.key("memberships").begin_array();
    for (const Membership& membership : account->memberships) {
      out.begin_object()
          .field("org_id", membership.org_id)
          .field("payer_id", membership.payer_id)
          .field("joined_method", joined_method_name(membership.method))
          .field("joined_at", format_time(membership.joined_at));
      out.key("left_at");
      membership.left_at == kForever ? out.null() : out.value(format_time(membership.left_at));
      out.end_object();
    }
    out.end_array();
    out.key("path").begin_array();
    for (const PathLevel& level : path) {
      out.begin_object().field("target_id", level.target_id).key("policies").begin_array();
      for (const Policy* policy : level.policies) out.value(policy->id);
      out.end_array().end_object();
    }
    out.end_array();
    out.key("services_allowed").begin_array();
    for (const std::string& service : allowed) out.value(service);
    out.end_array().key("services_denied").begin_array();
    for (const std::string& service : denied) out.value(service);
    out.end_array();
    out.field("password_set", account->password_set).key("mfa_devices").begin_array();
    for (const std::string& device : account->mfa_devices) out.value(device);
    out.end_array();
    changes_json(out, account->changes);
    out.end_object();
    return out.str() + "\n";
  }
  text += fmt::format("account {}  {} <{}>\n", account->id, account->name, account->email);
  text += fmt::format(
      "  status        {}{}\n", account_status_name(account->status),
      account->closed_at == kForever ? "" : " since " + format_time(account->closed_at));
  text += fmt::format("  created       {}\n", format_time(account->created_at));
  if (current) {
    text += fmt::format("  organization  {} ({}, {} since {})\n", current->org_id,
                        current->payer_id == account->id ? "management account"
                                                         : "member; payer " + current->payer_id,
                        joined_method_name(current->method), format_time(current->joined_at));
  } else {
    text += fmt::format("  organization  none (standalone: pays for its own usage)\n");
  }
  if (!path.empty()) {
    std::string joined;
    for (const PathLevel& level : path) joined += (joined.empty() ? "" : " / ") + level.target_id;
    text += fmt::format("  path          {}\n", joined);
    for (const PathLevel& level : path) {
      for (const Policy* policy : level.policies) {
        text += fmt::format("  policy        {} {} on {}{}: {}\n", policy->id, policy->name,
                            level.target_id, level.target_id == account_id ? "" : " (inherited)",
                            statements_summary(*policy));
      }
    }
  }
  std::string allowed_text, denied_text;
  for (const std::string& service : allowed)
    allowed_text += (allowed_text.empty() ? "" : " ") + service;
  for (const std::string& service : denied)
    denied_text += (denied_text.empty() ? "" : " ") + service;
  text += fmt::format("  services      may use {}{}\n", allowed_text.empty() ? "-" : allowed_text,
                      denied_text.empty() ? "" : "; denied " + denied_text);
  text += fmt::format("  security      password {}; MFA {}\n",
                      account->password_set ? "set" : "not set",
                      account->mfa_devices.empty() ? "off" : "on (" + devices_text(*account) + ")");
  if (!account->memberships.empty()) {
    text += fmt::format("  membership history\n");
    text += fmt::format("    {:<34} {:<14} {:<8} {:<21} {}\n", "ORGANIZATION", "PAYER", "METHOD",
                        "JOINED", "LEFT");
    for (const Membership& membership : account->memberships) {
      text += fmt::format("    {:<34} {:<14} {:<8} {:<21} {}\n", membership.org_id,
                          membership.payer_id, joined_method_name(membership.method),
                          format_time(membership.joined_at), time_or_dash(membership.left_at));
    }
  }
  text += changes_text(account->changes);
  return text;
}

Result<std::string> render_organization(const Registry& registry, const std::string& org_id,
                                        bool json, Micros now) {
  std::string text;
  const Organization* organization = registry.find_organization(org_id);
  if (organization == nullptr) {
    return Status(Code::kNotFound, Reason::kAWSOrganizationsNotInUse,
                  "organization \"" + org_id + "\" does not exist");
  }
  std::vector<const Handshake*> handshakes;
  for (const auto& [id, handshake] : registry.handshakes) {
    if (handshake.org_id == org_id) handshakes.push_back(&handshake);
  }
  const Account& management = registry.accounts.at(organization->management_account_id);

  if (json) {
    JsonWriter out;
    out.begin_object()
        .field("org_id", organization->id)
        .field("root_id", organization->root_id)
        .field("management_account_id", organization->management_account_id)
        .field("feature_set", fb::EnumNameFeatureSet(organization->feature_set))
        .field("max_accounts", organization->max_accounts)
        .field("created_at", format_time(organization->created_at))
        .field("deleted", organization->deleted);
    out.key("accounts").begin_array();
    for (const std::string& member_id : organization->member_ids) {
      const Account& member = registry.accounts.at(member_id);
      const Membership& membership = *member.current_membership();
      out.begin_object()
          .field("account_id", member.id)
          .field("name", member.name)
          .field("email", member.email)
          .field("status", account_status_name(member.status))
          .field("joined_method", joined_method_name(membership.method))
          .field("joined_at", format_time(membership.joined_at))
          .field("management", member.id == organization->management_account_id)
          .end_object();
    }
    out.end_array();
    out.key("handshakes").begin_array();
    for (const Handshake* handshake : handshakes) {
      out.begin_object()
          .field("handshake_id", handshake->id)
          .field("account_id", handshake->account_id)
          .field("action", fb::EnumNameHandshakeAction(handshake->action))
          .field("state", handshake_state_name(handshake->state_at(now)))
          .field("requested_at", format_time(handshake->requested_at))
          .field("expires_at", format_time(handshake->expires_at))
          .end_object();
    }
    out.end_array();
    out.key("tree");
    tree_json(registry, *organization, organization->root_id, "root", "Root", now, out);
    out.key("policies").begin_array();
    for (const auto& [id, policy] : registry.policies) {
      if (policy.org_id != organization->id || policy.deleted) continue;
      out.begin_object()
          .field("policy_id", id)
          .field("name", policy.name)
          .field("document", policy.document)
          .end_object();
    }
    out.end_array();
    changes_json(out, organization->changes);
    out.end_object();
    return out.str() + "\n";
  }

  text += fmt::format(
      "organization {}{}\n", organization->id,
      organization->deleted ? "  (deleted " + format_time(organization->deleted_at) + ")" : "");
  text += fmt::format("  root                {}\n", organization->root_id);
  text +=
      fmt::format("  feature set         {}\n", fb::EnumNameFeatureSet(organization->feature_set));
  text += fmt::format("  management account  {} ({})\n", management.id, management.name);
  text += fmt::format("  created             {}\n", format_time(organization->created_at));
  text += fmt::format("  accounts            {} of {} in use (members plus pending invitations)\n",
                      registry.quota_usage(*organization, now), organization->max_accounts);
  text += fmt::format("\n  {:<14} {:<24} {:<32} {:<10} {:<8} {}\n", "ACCOUNT", "NAME", "EMAIL",
                      "STATUS", "METHOD", "JOINED");
  for (const std::string& member_id : organization->member_ids) {
    const Account& member = registry.accounts.at(member_id);
    const Membership& membership = *member.current_membership();
    text += fmt::format("  {:<14} {:<24} {:<32} {:<10} {:<8} {}{}\n", member.id, member.name,
                        member.email, account_status_name(member.status),
                        joined_method_name(membership.method), format_time(membership.joined_at),
                        member.id == organization->management_account_id ? "  (management)" : "");
  }
  if (!handshakes.empty()) {
    text += fmt::format("\n  {:<20} {:<14} {:<10} {:<21} {}\n", "HANDSHAKE", "ACCOUNT", "STATE",
                        "REQUESTED", "EXPIRES");
    for (const Handshake* handshake : handshakes) {
      text += fmt::format("  {:<20} {:<14} {:<10} {:<21} {}\n", handshake->id,
                          handshake->account_id, handshake_state_name(handshake->state_at(now)),
                          format_time(handshake->requested_at), format_time(handshake->expires_at));
    }
  }
  text += fmt::format("\n  TREE (attached policies in brackets)\n    {} Root{}\n",
                      organization->root_id,
                      policy_labels(attached_at(registry, organization->root_id, now)));
  tree_text(registry, *organization, organization->root_id, now, 1, text);
  bool any_policy = false;
  for (const auto& [id, policy] : registry.policies) {
    if (policy.org_id != organization->id || policy.deleted) continue;
    if (!any_policy) text += fmt::format("\n  {:<24} {:<20} {}\n", "POLICY", "NAME", "STATEMENTS");
    any_policy = true;
    text += fmt::format("  {:<24} {:<20} {}\n", id, policy.name, statements_summary(policy));
  }
  text += changes_text(organization->changes);
  return text;
}

namespace {

Status unknown_account(std::string_view account_id) {
  return Status(Code::kNotFound, Reason::kAccountNotFound,
                "account \"" + std::string(account_id) + "\" does not exist");
}

// The table form of a bill, or of one account's charges on it (`account_id` set).
std::string bill_text(const Registry& registry, const Bill& bill, std::string_view account_id,
                      bool with_lines) {
  std::string text;
  std::map<std::string, std::string> units;
  for (const auto& [usage_type, schedules] : registry.billing.prices.in_order()) {
    if (!schedules->empty()) units[std::string(usage_type)] = schedules->rbegin()->second.unit;
  }
  for (const UsageTypeSummary& type : bill.usage_types) units[type.usage_type] = type.unit;

  if (account_id.empty()) {
    text +=
        fmt::format("Consolidated bill of {} ({}) for {}  [{}]\n", bill.payer_id, bill.payer_name,
                    format_month(bill.month), bill.closed ? "closed" : "open: may still change");
  } else {
    text += fmt::format("Charges of account {} on the bill of {} ({}) for {}  [{}]\n", account_id,
                        bill.payer_id, bill.payer_name, format_month(bill.month),
                        bill.closed ? "closed" : "open: may still change");
  }
  if (bill.lines.empty() && bill.corrections.empty()) {
    text += fmt::format("\n  no usage billed to this payer in {}\n", format_month(bill.month));
  }
  if (!bill.usage_types.empty()) {
    text += fmt::format("\n  {:<32} {:<12} {:>20} {:>16} {:>16}\n", "USAGE TYPE", "SERVICE",
                        "QUANTITY", "CONSOLIDATED", "STANDALONE");
    for (const UsageTypeSummary& type : bill.usage_types) {
      text += fmt::format("  {:<32} {:<12} {:>20} {:>16} {:>16}\n", type.usage_type, type.service,
                          format_decimal(type.quantity, kQuantityScale) + " " + type.unit,
                          dollars(type.consolidated_cost), dollars(type.standalone_cost));
    }
  }
  if (with_lines && !bill.lines.empty()) {
    text += fmt::format("\n  {:<14} {:<32} {:>20} {:>16} {:>16}\n", "ACCOUNT", "USAGE TYPE",
                        "QUANTITY", "STANDALONE", "BILLED");
    for (const BillLine& line : bill.lines) {
      text +=
          fmt::format("  {:<14} {:<32} {:>20} {:>16} {:>16}\n", line.account_id, line.usage_type,
                      format_decimal(line.quantity, kQuantityScale) + " " + units[line.usage_type],
                      dollars(line.standalone_cost), dollars(line.billed_cost));
    }
  }
  if (!bill.corrections.empty()) {
    text += fmt::format("\n  CORRECTIONS (late usage of closed months)\n");
    text += fmt::format("  {:<14} {:<32} {:<8} {:>20} {:>16}\n", "ACCOUNT", "USAGE TYPE", "MONTH",
                        "LATE QUANTITY", "AMOUNT");
    for (const CorrectionLine& line : bill.corrections) {
      text += fmt::format("  {:<14} {:<32} {:<8} {:>20} {:>16}\n", line.account_id, line.usage_type,
                          format_month(line.origin_month),
                          format_decimal(line.quantity, kQuantityScale), dollars(line.amount));
    }
  }
  if (!bill.credits.empty()) {
    text += fmt::format("\n  CREDITS\n");
    text += fmt::format("  {:<24} {:<14} {:<14} {:>16}  {}\n", "CREDIT", "OWNER", "APPLIED TO",
                        "AMOUNT", "DESCRIPTION");
    for (const CreditApplication& credit : bill.credits) {
      text += fmt::format("  {:<24} {:<14} {:<14} {:>16}  {}\n", credit.credit_id,
                          credit.owner_account_id, credit.applied_account_id,
                          "-" + dollars(credit.amount), credit.description);
    }
  }
  text +=
      fmt::format("\n  {:<36} {:>16}\n",
                  account_id.empty() ? "usage (consolidated)" : "usage (its consolidated share)",
                  dollars(bill.usage_total));
  text += fmt::format("  {:<36} {:>16}\n", "corrections", dollars(bill.corrections_total));
  text += fmt::format("  {:<36} {:>16}\n", "credits",
                      (bill.credits_total > 0 ? "-" : "") + dollars(bill.credits_total));
  text += fmt::format("  {:<36} {:>16}\n", "total", dollars(bill.total));
  text += fmt::format("  {:<36} {:>16}\n", "standalone (each account alone)",
                      dollars(bill.standalone_total));
  text += fmt::format("  {:<36} {:>16}\n", "savings from consolidation", dollars(bill.savings));
  text += fmt::format("\n  INVOICE {} USD\n", format_cents(bill.invoice_cents));
  for (const MemberSummary& member : bill.members) {
    text += fmt::format("    {:<14} {:<28} {:>16}\n", member.account_id, member.name,
                        format_cents(member.invoice_cents));
  }
  return text;
}

}  // namespace

Result<std::string> render_bill(const Registry& registry, const std::string& payer, Month month,
                                bool json, const std::string& account_id, bool summary) {
  if (registry.find_account(payer) == nullptr) return unknown_account(payer);
  if (!account_id.empty() && registry.find_account(account_id) == nullptr) {
    return unknown_account(account_id);
  }
  auto computed = compute_bill(registry, payer, month);
  if (!computed.is_ok()) return computed.status();
  const Bill bill = account_id.empty() ? std::move(*computed) : charges_of(*computed, account_id);
  if (json) return bill_to_json(bill, !summary) + "\n";
  return bill_text(registry, bill, account_id, !summary);
}

Result<std::string> render_focus(const Registry& registry, const std::string& payer, Month month) {
  auto computed = compute_bill(registry, payer, month);
  if (!computed.is_ok()) return computed.status();
  const Bill& bill = *computed;
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

  return csv;
}

}  // namespace orgledger

#include "projections/event_json.h"

#include <simdjson.h>

#include <map>
#include <memory>
#include <string>

#include "projections/json_writer.h"
#include "projections/sha256.h"
#include "projections/values.h"

namespace orgledger {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

Status invalid(std::string message) {
  return Status(Code::kInvalidArgument, Reason::kInvalidInput, std::move(message));
}

std::string field_error(std::string_view name, std::string_view problem) {
  return "field \"" + std::string(name) + "\" " + std::string(problem);
}

// The fields of one JSON object. Each `take_*` consumes a field; `finish` refuses leftovers, so
// a misspelled or unexpected field is an error rather than silently ignored.
class Fields {
 public:
  static Result<Fields> of(element value, std::string_view what) {
    if (value.type() != element_type::OBJECT)
      return invalid(std::string(what) + " must be a JSON object");
    Fields fields;
    for (auto [key, field] : simdjson::dom::object(value)) {
      if (!fields.fields_.emplace(std::string(key), field).second) {
        return invalid("duplicated field \"" + std::string(key) + "\"");
      }
    }
    return fields;
  }

  Result<std::string> take_string(std::string_view name) {
    auto value = take_optional_string(name);
    if (!value.is_ok()) return value.status();
    if (!value->has_value()) return invalid(field_error(name, "is required"));
    return std::move(**value);
  }

  Result<std::optional<std::string>> take_optional_string(std::string_view name) {
    auto found = take(name);
    if (!found) return std::optional<std::string>();
    std::string_view value;
    if (found->get_string().get(value) != simdjson::SUCCESS) {
      return invalid(field_error(name, "must be a string"));
    }
    return std::optional<std::string>(std::string(value));
  }

  // An exact decimal scaled by 10^scale: a string ("0.17") or a JSON integer (4096).
  Result<std::optional<int64_t>> take_optional_decimal(std::string_view name, int scale) {
    auto found = take(name);
    if (!found) return std::optional<int64_t>();
    switch (found->type()) {
      case element_type::STRING: {
        auto value = parse_decimal(std::string_view(*found), scale);
        if (!value.is_ok()) return invalid(field_error(name, value.status().message()));
        return std::optional<int64_t>(*value);
      }
      case element_type::INT64:
      case element_type::UINT64: {
        auto value = parse_decimal(simdjson::minify(*found), scale);
        if (!value.is_ok()) return invalid(field_error(name, value.status().message()));
        return std::optional<int64_t>(*value);
      }
      case element_type::DOUBLE:
        return invalid(
            field_error(name,
                        "is a JSON number with a fraction or exponent; write exact decimals as "
                        "strings, e.g. \"0.17\""));
      default:
        return invalid(field_error(name, "must be a decimal string"));
    }
  }

  Result<int64_t> take_decimal(std::string_view name, int scale) {
    auto value = take_optional_decimal(name, scale);
    if (!value.is_ok()) return value.status();
    if (!value->has_value()) return invalid(field_error(name, "is required"));
    return **value;
  }

  Result<int64_t> take_integer(std::string_view name, int64_t min, int64_t max) {
    auto found = take(name);
    if (!found) return invalid(field_error(name, "is required"));
    int64_t value = 0;
    if (found->type() != element_type::INT64 ||
        found->get_int64().get(value) != simdjson::SUCCESS) {
      return invalid(field_error(name, "must be a JSON integer"));
    }
    if (value < min || value > max) {
      return invalid(field_error(
          name, "must be between " + std::to_string(min) + " and " + std::to_string(max)));
    }
    return value;
  }

  Result<bool> take_bool(std::string_view name) {
    auto found = take(name);
    if (!found) return invalid(field_error(name, "is required"));
    bool value = false;
    if (found->get_bool().get(value) != simdjson::SUCCESS) {
      return invalid(field_error(name, "must be true or false"));
    }
    return value;
  }

  Result<Micros> take_time(std::string_view name) {
    auto value = take_string(name);
    if (!value.is_ok()) return value.status();
    auto time = parse_time(*value);
    if (!time.is_ok()) return invalid(field_error(name, time.status().message()));
    return *time;
  }

  Result<std::optional<Month>> take_optional_month(std::string_view name) {
    auto value = take_optional_string(name);
    if (!value.is_ok()) return value.status();
    if (!value->has_value()) return std::optional<Month>();
    auto month = parse_month(**value);
    if (!month.is_ok()) return invalid(field_error(name, month.status().message()));
    return std::optional<Month>(*month);
  }

  Result<Month> take_month(std::string_view name) {
    auto value = take_optional_month(name);
    if (!value.is_ok()) return value.status();
    if (!value->has_value()) return invalid(field_error(name, "is required"));
    return **value;
  }

  // The raw element, for arrays and nested objects.
  std::optional<element> take(std::string_view name) {
    auto it = fields_.find(std::string(name));
    if (it == fields_.end()) return std::nullopt;
    element value = it->second;
    fields_.erase(it);
    if (value.type() == element_type::NULL_VALUE) return std::nullopt;  // null = absent
    return value;
  }

  Status finish() const {
    if (fields_.empty()) return Status::ok();
    return invalid("unknown field \"" + fields_.begin()->first + "\"");
  }

 private:
  std::map<std::string, element> fields_;
};

// Assigns a taken value to `target` or returns its error from the enclosing function.
#define TAKE(target, expression)                           \
  do {                                                     \
    auto taken_value = (expression);                       \
    if (!taken_value.is_ok()) return taken_value.status(); \
    target = std::move(*taken_value);                      \
  } while (false)

Result<fb::FeatureSet> feature_set_of(std::string_view name) {
  if (name == "ALL") return fb::FeatureSet::ALL;
  if (name == "CONSOLIDATED_BILLING") return fb::FeatureSet::CONSOLIDATED_BILLING;
  return invalid(field_error("feature_set", "must be \"ALL\" or \"CONSOLIDATED_BILLING\""));
}

Result<std::vector<std::unique_ptr<fb::PriceTierT>>> parse_tiers(element value) {
  std::vector<std::unique_ptr<fb::PriceTierT>> tiers;
  if (value.type() != element_type::ARRAY) return invalid(field_error("tiers", "must be an array"));
  size_t index = 0;
  for (element item : simdjson::dom::array(value)) {
    auto fields = Fields::of(item, "tiers[" + std::to_string(index) + "]");
    if (!fields.is_ok()) return fields.status();
    auto tier = std::make_unique<fb::PriceTierT>();
    std::optional<int64_t> up_to;
    TAKE(up_to, fields->take_optional_decimal("up_to", kQuantityScale));
    if (up_to) tier->up_to = *up_to;
    TAKE(tier->unit_price, fields->take_decimal("unit_price", kUnitPriceScale));
    ORGLEDGER_RETURN_IF_ERROR(
        fields->finish().with_context("tiers[" + std::to_string(index) + "]"));
    tiers.push_back(std::move(tier));
    ++index;
  }
  return tiers;
}

Result<std::vector<std::unique_ptr<fb::FeatureHandshakeT>>> parse_feature_handshakes(
    element value) {
  std::vector<std::unique_ptr<fb::FeatureHandshakeT>> handshakes;
  if (value.type() != element_type::ARRAY) {
    return invalid(field_error("handshakes", "must be an array"));
  }
  for (element item : simdjson::dom::array(value)) {
    auto fields = Fields::of(item, "handshakes[]");
    if (!fields.is_ok()) return fields.status();
    auto handshake = std::make_unique<fb::FeatureHandshakeT>();
    TAKE(handshake->handshake_id, fields->take_string("handshake_id"));
    TAKE(handshake->account_id, fields->take_string("account_id"));
    ORGLEDGER_RETURN_IF_ERROR(fields->finish().with_context("handshakes[]"));
    handshakes.push_back(std::move(handshake));
  }
  return handshakes;
}

// Fills `event.body` from the fields of a `type` event.
Status parse_body(std::string_view type, Fields& fields, fb::EventT& event) {
  auto& body = event.body;
  if (type == "AccountCreated") {
    fb::AccountCreatedT value;
    TAKE(value.account_id, fields.take_string("account_id"));
    TAKE(value.email, fields.take_string("email"));
    TAKE(value.name, fields.take_string("name"));
    std::optional<std::string> org_id;
    TAKE(org_id, fields.take_optional_string("org_id"));
    value.org_id = org_id.value_or("");
    body.Set(std::move(value));
  } else if (type == "OrganizationCreated") {
    fb::OrganizationCreatedT value;
    TAKE(value.org_id, fields.take_string("org_id"));
    std::optional<std::string> root_id;
    TAKE(root_id, fields.take_optional_string("root_id"));
    value.root_id = root_id ? *root_id : default_root_id(value.org_id);
    TAKE(value.management_account_id, fields.take_string("management_account_id"));
    std::optional<std::string> feature_set;
    TAKE(feature_set, fields.take_optional_string("feature_set"));
    if (feature_set) TAKE(value.feature_set, feature_set_of(*feature_set));
    body.Set(std::move(value));
  } else if (type == "AccountQuotaSet") {
    fb::AccountQuotaSetT value;
    TAKE(value.org_id, fields.take_string("org_id"));
    int64_t max_accounts = 0;
    TAKE(max_accounts, fields.take_integer("max_accounts", 1, 1'000'000));
    value.max_accounts = static_cast<uint32_t>(max_accounts);
    body.Set(std::move(value));
  } else if (type == "AccountInvited") {
    fb::AccountInvitedT value;
    TAKE(value.handshake_id, fields.take_string("handshake_id"));
    TAKE(value.org_id, fields.take_string("org_id"));
    TAKE(value.account_id, fields.take_string("account_id"));
    body.Set(std::move(value));
  } else if (type == "HandshakeAccepted") {
    fb::HandshakeAcceptedT value;
    TAKE(value.handshake_id, fields.take_string("handshake_id"));
    body.Set(std::move(value));
  } else if (type == "HandshakeDeclined") {
    fb::HandshakeDeclinedT value;
    TAKE(value.handshake_id, fields.take_string("handshake_id"));
    body.Set(std::move(value));
  } else if (type == "HandshakeCanceled") {
    fb::HandshakeCanceledT value;
    TAKE(value.handshake_id, fields.take_string("handshake_id"));
    body.Set(std::move(value));
  } else if (type == "AccountRemoved") {
    fb::AccountRemovedT value;
    TAKE(value.org_id, fields.take_string("org_id"));
    TAKE(value.account_id, fields.take_string("account_id"));
    body.Set(std::move(value));
  } else if (type == "AccountLeft") {
    fb::AccountLeftT value;
    TAKE(value.account_id, fields.take_string("account_id"));
    body.Set(std::move(value));
  } else if (type == "AccountClosed") {
    fb::AccountClosedT value;
    TAKE(value.account_id, fields.take_string("account_id"));
    body.Set(std::move(value));
  } else if (type == "OrganizationDeleted") {
    fb::OrganizationDeletedT value;
    TAKE(value.org_id, fields.take_string("org_id"));
    body.Set(std::move(value));
  } else if (type == "AllFeaturesEnableRequested") {
    fb::AllFeaturesEnableRequestedT value;
    TAKE(value.org_id, fields.take_string("org_id"));
    auto handshakes = fields.take("handshakes");
    if (!handshakes) return invalid(field_error("handshakes", "is required"));
    TAKE(value.handshakes, parse_feature_handshakes(*handshakes));
    body.Set(std::move(value));
  } else if (type == "AllFeaturesEnabled") {
    fb::AllFeaturesEnabledT value;
    TAKE(value.org_id, fields.take_string("org_id"));
    body.Set(std::move(value));
  } else if (type == "OrganizationalUnitCreated") {
    fb::OrganizationalUnitCreatedT value;
    TAKE(value.ou_id, fields.take_string("ou_id"));
    TAKE(value.parent_id, fields.take_string("parent_id"));
    TAKE(value.name, fields.take_string("name"));
    body.Set(std::move(value));
  } else if (type == "AccountMoved") {
    fb::AccountMovedT value;
    TAKE(value.account_id, fields.take_string("account_id"));
    TAKE(value.parent_id, fields.take_string("parent_id"));
    body.Set(std::move(value));
  } else if (type == "PolicyCreated") {
    fb::PolicyCreatedT value;
    TAKE(value.policy_id, fields.take_string("policy_id"));
    TAKE(value.org_id, fields.take_string("org_id"));
    TAKE(value.name, fields.take_string("name"));
    auto document = fields.take("document");
    if (!document) return invalid(field_error("document", "is required"));
    // A document given as JSON is stored as its minified text; a string is stored as given.
    std::string_view document_text;
    value.document = document->get_string().get(document_text) == simdjson::SUCCESS
                         ? std::string(document_text)
                         : simdjson::minify(*document);
    body.Set(std::move(value));
  } else if (type == "PolicyAttached") {
    fb::PolicyAttachedT value;
    TAKE(value.policy_id, fields.take_string("policy_id"));
    TAKE(value.target_id, fields.take_string("target_id"));
    body.Set(std::move(value));
  } else if (type == "PolicyDetached") {
    fb::PolicyDetachedT value;
    TAKE(value.policy_id, fields.take_string("policy_id"));
    TAKE(value.target_id, fields.take_string("target_id"));
    body.Set(std::move(value));
  } else if (type == "PolicyDeleted") {
    fb::PolicyDeletedT value;
    TAKE(value.policy_id, fields.take_string("policy_id"));
    body.Set(std::move(value));
  } else if (type == "PriceScheduleSet") {
    fb::PriceScheduleSetT value;
    TAKE(value.usage_type, fields.take_string("usage_type"));
    TAKE(value.service, fields.take_string("service"));
    TAKE(value.unit, fields.take_string("unit"));
    TAKE(value.effective_month, fields.take_month("effective_month"));
    auto tiers = fields.take("tiers");
    if (!tiers) return invalid(field_error("tiers", "is required"));
    TAKE(value.tiers, parse_tiers(*tiers));
    body.Set(std::move(value));
  } else if (type == "UsageRecorded") {
    fb::UsageRecordedT value;
    TAKE(value.account_id, fields.take_string("account_id"));
    TAKE(value.usage_type, fields.take_string("usage_type"));
    TAKE(value.quantity, fields.take_decimal("quantity", kQuantityScale));
    std::optional<std::string> resource_id;
    TAKE(resource_id, fields.take_optional_string("resource_id"));
    value.resource_id = resource_id.value_or("");
    body.Set(std::move(value));
  } else if (type == "CreditGranted") {
    fb::CreditGrantedT value;
    TAKE(value.credit_id, fields.take_string("credit_id"));
    TAKE(value.account_id, fields.take_string("account_id"));
    TAKE(value.amount, fields.take_decimal("amount", kAmountScale));
    std::optional<Month> expires;
    TAKE(expires, fields.take_optional_month("expires_month"));
    if (expires) value.expires_month = *expires;
    std::optional<std::string> description;
    TAKE(description, fields.take_optional_string("description"));
    value.description = description.value_or("");
    body.Set(std::move(value));
  } else if (type == "CreditSharingSet") {
    fb::CreditSharingSetT value;
    TAKE(value.org_id, fields.take_string("org_id"));
    TAKE(value.enabled, fields.take_bool("enabled"));
    body.Set(std::move(value));
  } else if (type == "BillingPeriodClosed") {
    fb::BillingPeriodClosedT value;
    TAKE(value.month, fields.take_month("month"));
    body.Set(std::move(value));
  } else if (type == "PasswordChanged") {
    fb::PasswordChangedT value;
    TAKE(value.account_id, fields.take_string("account_id"));
    body.Set(std::move(value));
  } else {
    return invalid("unknown event type \"" + std::string(type) + "\"");
  }
  return Status::ok();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

struct JsonEventParser::Impl {
  simdjson::dom::parser parser;
};

JsonEventParser::JsonEventParser() : impl_(std::make_unique<Impl>()) {}
JsonEventParser::~JsonEventParser() = default;

Result<ParsedEvent> JsonEventParser::parse(std::string_view line) {
  element document;
  if (auto error = impl_->parser.parse(line.data(), line.size()).get(document); error) {
    return invalid(std::string("not valid JSON: ") + simdjson::error_message(error));
  }
  auto fields = Fields::of(document, "an event");
  if (!fields.is_ok()) return fields.status();
  std::string type;
  TAKE(type, fields->take_string("type"));
  ParsedEvent parsed;
  std::optional<std::string> event_id;
  TAKE(event_id, fields->take_optional_string("event_id"));
  if (event_id) {
    auto bytes = parse_event_id(*event_id);
    if (!bytes.is_ok()) return invalid(field_error("event_id", bytes.status().message()));
    parsed.event_id = *bytes;
  }
  // The forms that carry a secret (docs/security.md): the stored fact is recorded without it.
  // Their occurred_at may be left out: the appender then uses the current time.
  const bool sets_secret = type == "PasswordSet" || type == "MfaEnabled";
  if (sets_secret) {
    std::optional<std::string> time;
    TAKE(time, fields->take_optional_string("occurred_at"));
    if (time) {
      auto parsed_time = parse_time(*time);
      if (!parsed_time.is_ok()) {
        return invalid(field_error("occurred_at", parsed_time.status().message()));
      }
      parsed.event.occurred_at = *parsed_time;
    }
    parsed.occurred_at_given = time.has_value();
  } else {
    TAKE(parsed.event.occurred_at, fields->take_time("occurred_at"));
  }
  if (type == "PasswordSet") {
    fb::PasswordChangedT value;
    TAKE(value.account_id, fields->take_string("account_id"));
    CredentialSecret secret;
    TAKE(secret.password, fields->take_string("password"));
    parsed.secret = std::move(secret);
    parsed.event.body.Set(std::move(value));
  } else if (type == "MfaEnabled") {
    fb::MfaEnabledT value;
    TAKE(value.account_id, fields->take_string("account_id"));
    TAKE(value.device_id, fields->take_string("device_id"));
    std::optional<std::string> seed;
    std::optional<std::string> code;
    TAKE(seed, fields->take_optional_string("totp_seed"));
    TAKE(code, fields->take_optional_string("code"));
    if (seed.has_value() != code.has_value()) {
      return invalid(
          "MfaEnabled needs both \"totp_seed\" and \"code\" (a current code of the seed)");
    }
    if (seed) parsed.secret = CredentialSecret{"", std::move(*seed), std::move(*code)};
    parsed.event.body.Set(std::move(value));
  } else {
    ORGLEDGER_RETURN_IF_ERROR(parse_body(type, *fields, parsed.event));
  }
  ORGLEDGER_RETURN_IF_ERROR(fields->finish());
  return parsed;
}

namespace {

std::string_view str(const flatbuffers::String* value) {
  return value == nullptr ? std::string_view() : value->string_view();
}

// Writes the body fields of `event` in their JSON Lines form.
void write_body(JsonWriter& out, const fb::Event& event) {
  switch (event.body_type()) {
    case fb::EventBody::AccountCreated: {
      const auto& e = *event.body_as_AccountCreated();
      out.field("account_id", str(e.account_id())).field("email", str(e.email()));
      out.field("name", str(e.name()));
      if (!str(e.org_id()).empty()) out.field("org_id", str(e.org_id()));
      break;
    }
    case fb::EventBody::OrganizationCreated: {
      const auto& e = *event.body_as_OrganizationCreated();
      out.field("org_id", str(e.org_id())).field("root_id", str(e.root_id()));
      out.field("management_account_id", str(e.management_account_id()));
      out.field("feature_set", fb::EnumNameFeatureSet(e.feature_set()));
      break;
    }
    case fb::EventBody::AccountQuotaSet: {
      const auto& e = *event.body_as_AccountQuotaSet();
      out.field("org_id", str(e.org_id())).field("max_accounts", e.max_accounts());
      break;
    }
    case fb::EventBody::AccountInvited: {
      const auto& e = *event.body_as_AccountInvited();
      out.field("handshake_id", str(e.handshake_id())).field("org_id", str(e.org_id()));
      out.field("account_id", str(e.account_id()));
      break;
    }
    case fb::EventBody::HandshakeAccepted:
      out.field("handshake_id", str(event.body_as_HandshakeAccepted()->handshake_id()));
      break;
    case fb::EventBody::HandshakeDeclined:
      out.field("handshake_id", str(event.body_as_HandshakeDeclined()->handshake_id()));
      break;
    case fb::EventBody::HandshakeCanceled:
      out.field("handshake_id", str(event.body_as_HandshakeCanceled()->handshake_id()));
      break;
    case fb::EventBody::AccountRemoved: {
      const auto& e = *event.body_as_AccountRemoved();
      out.field("org_id", str(e.org_id())).field("account_id", str(e.account_id()));
      break;
    }
    case fb::EventBody::AccountLeft:
      out.field("account_id", str(event.body_as_AccountLeft()->account_id()));
      break;
    case fb::EventBody::AccountClosed:
      out.field("account_id", str(event.body_as_AccountClosed()->account_id()));
      break;
    case fb::EventBody::OrganizationDeleted:
      out.field("org_id", str(event.body_as_OrganizationDeleted()->org_id()));
      break;
    case fb::EventBody::AllFeaturesEnableRequested: {
      const auto& e = *event.body_as_AllFeaturesEnableRequested();
      out.field("org_id", str(e.org_id()));
      out.key("handshakes").begin_array();
      if (e.handshakes() != nullptr) {
        for (const fb::FeatureHandshake* handshake : *e.handshakes()) {
          out.begin_object()
              .field("handshake_id", str(handshake->handshake_id()))
              .field("account_id", str(handshake->account_id()))
              .end_object();
        }
      }
      out.end_array();
      break;
    }
    case fb::EventBody::AllFeaturesEnabled:
      out.field("org_id", str(event.body_as_AllFeaturesEnabled()->org_id()));
      break;
    case fb::EventBody::OrganizationalUnitCreated: {
      const auto& e = *event.body_as_OrganizationalUnitCreated();
      out.field("ou_id", str(e.ou_id())).field("parent_id", str(e.parent_id()));
      out.field("name", str(e.name()));
      break;
    }
    case fb::EventBody::AccountMoved: {
      const auto& e = *event.body_as_AccountMoved();
      out.field("account_id", str(e.account_id())).field("parent_id", str(e.parent_id()));
      break;
    }
    case fb::EventBody::PolicyCreated: {
      const auto& e = *event.body_as_PolicyCreated();
      out.field("policy_id", str(e.policy_id())).field("org_id", str(e.org_id()));
      out.field("name", str(e.name())).field("document", str(e.document()));
      break;
    }
    case fb::EventBody::PolicyAttached: {
      const auto& e = *event.body_as_PolicyAttached();
      out.field("policy_id", str(e.policy_id())).field("target_id", str(e.target_id()));
      break;
    }
    case fb::EventBody::PolicyDetached: {
      const auto& e = *event.body_as_PolicyDetached();
      out.field("policy_id", str(e.policy_id())).field("target_id", str(e.target_id()));
      break;
    }
    case fb::EventBody::PolicyDeleted:
      out.field("policy_id", str(event.body_as_PolicyDeleted()->policy_id()));
      break;
    case fb::EventBody::PriceScheduleSet: {
      const auto& e = *event.body_as_PriceScheduleSet();
      out.field("usage_type", str(e.usage_type())).field("service", str(e.service()));
      out.field("unit", str(e.unit())).field("effective_month", format_month(e.effective_month()));
      out.key("tiers").begin_array();
      if (e.tiers() != nullptr) {
        for (const fb::PriceTier* tier : *e.tiers()) {
          out.begin_object();
          if (tier->up_to()) out.field("up_to", format_decimal(*tier->up_to(), kQuantityScale));
          out.field("unit_price", format_decimal(tier->unit_price(), kUnitPriceScale));
          out.end_object();
        }
      }
      out.end_array();
      break;
    }
    case fb::EventBody::UsageRecorded: {
      const auto& e = *event.body_as_UsageRecorded();
      out.field("account_id", str(e.account_id())).field("usage_type", str(e.usage_type()));
      out.field("quantity", format_decimal(e.quantity(), kQuantityScale));
      if (!str(e.resource_id()).empty()) out.field("resource_id", str(e.resource_id()));
      break;
    }
    case fb::EventBody::CreditGranted: {
      const auto& e = *event.body_as_CreditGranted();
      out.field("credit_id", str(e.credit_id())).field("account_id", str(e.account_id()));
      out.field("amount", format_decimal(e.amount(), kAmountScale));
      if (e.expires_month()) out.field("expires_month", format_month(*e.expires_month()));
      if (!str(e.description()).empty()) out.field("description", str(e.description()));
      break;
    }
    case fb::EventBody::CreditSharingSet: {
      const auto& e = *event.body_as_CreditSharingSet();
      out.field("org_id", str(e.org_id())).field("enabled", e.enabled());
      break;
    }
    case fb::EventBody::BillingPeriodClosed:
      out.field("month", format_month(event.body_as_BillingPeriodClosed()->month()));
      break;
    case fb::EventBody::PasswordChanged:
      out.field("account_id", str(event.body_as_PasswordChanged()->account_id()));
      break;
    case fb::EventBody::MfaEnabled: {
      const auto& e = *event.body_as_MfaEnabled();
      out.field("account_id", str(e.account_id())).field("device_id", str(e.device_id()));
      break;
    }
    case fb::EventBody::NONE:
      break;
  }
}

}  // namespace

std::string event_to_json(const fb::Event& event, const EventIdBytes& event_id) {
  JsonWriter out;
  out.begin_object()
      .field("type", fb::EnumNameEventBody(event.body_type()))
      .field("event_id", to_hex(event_id.data(), event_id.size()));
  write_body(out, event);
  out.field("occurred_at", format_time(event.occurred_at())).end_object();
  return out.str();
}

Result<EventIdBytes> parse_event_id(std::string_view hex) {
  EventIdBytes bytes{};
  if (hex.size() != 32) return invalid("an event id is 32 hexadecimal digits");
  for (size_t i = 0; i < 16; ++i) {
    const int high = hex_value(hex[2 * i]);
    const int low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) return invalid("an event id is 32 hexadecimal digits");
    bytes[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return bytes;
}

}  // namespace orgledger

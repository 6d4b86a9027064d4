#include "projections/event_json.h"

#include <simdjson.h>

#include <map>
#include <memory>
#include <string>

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
  } else if (type == "MfaEnabled") {
    fb::MfaEnabledT value;
    TAKE(value.account_id, fields.take_string("account_id"));
    TAKE(value.device_id, fields.take_string("device_id"));
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
  TAKE(parsed.event.occurred_at, fields->take_time("occurred_at"));
  ORGLEDGER_RETURN_IF_ERROR(parse_body(type, *fields, parsed.event));
  ORGLEDGER_RETURN_IF_ERROR(fields->finish());
  return parsed;
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

// The one error vocabulary of orgledger (STYLE.md convention 2).
//
// A Status is OK or carries a canonical code (with Abseil's retry semantics: Aborted = re-read,
// re-decide, retry; Unavailable = retry the same call; FailedPrecondition = fix the state first;
// DataLoss = corruption, alert), a domain reason from DOMAIN.md (AWS exception names without the
// `Exception` suffix), an optional constraint detail (`ACCOUNT_NUMBER_LIMIT_EXCEEDED`) and a
// message a person can act on. The same code and reason reach the CLI, the socket and the logs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace orgledger {

enum class Code : uint8_t {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kAborted,
  kPermissionDenied,
  kUnauthenticated,
  kResourceExhausted,
  kUnavailable,
  kDataLoss,
  kInternal,
};

// Domain reasons. Append only: the numeric values may be stored or sent on the wire.
enum class Reason : uint16_t {
  kNone = 0,
  // Input and format.
  kInvalidInput,
  kFutureTimestamp,
  kTimestampOutOfOrder,
  kDuplicateEventId,
  kEventNotSupported,
  kUnsupportedFormatVersion,
  kCorruptRecord,
  kHashChainBroken,
  kStorageError,
  // Organizations and accounts (DOMAIN.md).
  kDuplicateAccount,
  kEmailAlreadyExists,
  kAWSOrganizationsNotInUse,
  kConstraintViolation,
  kAlreadyInOrganization,
  kDuplicateOrganization,
  kDuplicateHandshake,
  kHandshakeConstraintViolation,
  kAccountNotFound,
  kHandshakeNotFound,
  kHandshakeAlreadyInState,
  kInvalidHandshakeTransition,
  kMasterCannotLeaveOrganization,
  kAccountAlreadyClosed,
  kAccountSuspended,
  kOrganizationNotEmpty,
  // Prices, usage and the consolidated bill (DOMAIN.md).
  kAmountOverflow,
  kUsageTypeNotPriced,
  kInvalidPriceSchedule,
  kPeriodClosed,
  kPeriodNotEnded,
  kPeriodCloseOutOfOrder,
  kDuplicateCredit,
  kWrongExpectedHead,
  // Feature sets and policies (DOMAIN.md).
  kPolicyTypeNotAvailableForOrganization,
  kDuplicatePolicy,
  kMalformedPolicyDocument,
  kDuplicatePolicyAttachment,
  kPolicyNotAttached,
  kPolicyNotFound,
  kTargetNotFound,
  kPolicyInUse,
  kPolicyDenied,
  kDuplicateOrganizationalUnit,
  kParentNotFound,
  // Securing the management account (DOMAIN.md).
  kPasswordPolicyViolation,
  kManagementAccountNotSecured,
  kInvalidMfaCode,
  kMfaDeviceAlreadyEnabled,
  kSecretRequired,
  // Authentication and authorization on the socket (docs/security.md).
  kAuthenticationRequired,
  kAuthenticationFailed,
  kLockedOut,
  kAccessDenied,
};

std::string_view code_name(Code code);
std::string_view reason_name(Reason reason);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, Reason reason, std::string message, std::string detail = {})
      : code_(code), reason_(reason), detail_(std::move(detail)), message_(std::move(message)) {}

  static Status ok() { return Status(); }

  bool is_ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  Reason reason() const { return reason_; }
  // The constraint behind ConstraintViolation-style reasons, e.g. "WAIT_PERIOD_ACTIVE"; else "".
  const std::string& detail() const { return detail_; }
  const std::string& message() const { return message_; }

  // "CODE Reason[/DETAIL]: message", the form of the CLI's error line.
  std::string to_string() const;

  // Returns a copy whose message is prefixed with `context` ("line 7: ...").
  Status with_context(std::string_view context) const;

 private:
  Code code_ = Code::kOk;
  Reason reason_ = Reason::kNone;
  std::string detail_;
  std::string message_;
};

// A value or a Status, never both, never neither.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {
    if (status_.is_ok()) {
      status_ = Status(Code::kInternal, Reason::kNone, "Result constructed from an OK status");
    }
  }

  bool is_ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  // value() throws std::bad_optional_access on an error; * and -> require is_ok().
  T& value() & { return value_.value(); }
  const T& value() const& { return value_.value(); }
  T&& value() && { return std::move(value_.value()); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace orgledger

// Returns early from the enclosing function when `expr` yields a non-OK Status.
#define ORGLEDGER_RETURN_IF_ERROR(expr)                         \
  do {                                                          \
    ::orgledger::Status status_macro_value = (expr);            \
    if (!status_macro_value.is_ok()) return status_macro_value; \
  } while (false)

#include "projections/status.h"

#include <array>

namespace orgledger {

std::string_view code_name(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kInvalidArgument:
      return "InvalidArgument";
    case Code::kNotFound:
      return "NotFound";
    case Code::kAlreadyExists:
      return "AlreadyExists";
    case Code::kFailedPrecondition:
      return "FailedPrecondition";
    case Code::kAborted:
      return "Aborted";
    case Code::kPermissionDenied:
      return "PermissionDenied";
    case Code::kUnauthenticated:
      return "Unauthenticated";
    case Code::kResourceExhausted:
      return "ResourceExhausted";
    case Code::kUnavailable:
      return "Unavailable";
    case Code::kDataLoss:
      return "DataLoss";
    case Code::kInternal:
      return "Internal";
  }
  return "Unknown";
}

std::string_view reason_name(Reason reason) {
  switch (reason) {
    case Reason::kNone:
      return "";
    case Reason::kInvalidInput:
      return "InvalidInput";
    case Reason::kFutureTimestamp:
      return "FutureTimestamp";
    case Reason::kTimestampOutOfOrder:
      return "TimestampOutOfOrder";
    case Reason::kDuplicateEventId:
      return "DuplicateEventId";
    case Reason::kEventNotSupported:
      return "EventNotSupported";
    case Reason::kUnsupportedFormatVersion:
      return "UnsupportedFormatVersion";
    case Reason::kCorruptRecord:
      return "CorruptRecord";
    case Reason::kHashChainBroken:
      return "HashChainBroken";
    case Reason::kStorageError:
      return "StorageError";
    case Reason::kDuplicateAccount:
      return "DuplicateAccount";
    case Reason::kEmailAlreadyExists:
      return "EmailAlreadyExists";
    case Reason::kAWSOrganizationsNotInUse:
      return "AWSOrganizationsNotInUse";
    case Reason::kConstraintViolation:
      return "ConstraintViolation";
    case Reason::kAlreadyInOrganization:
      return "AlreadyInOrganization";
    case Reason::kDuplicateOrganization:
      return "DuplicateOrganization";
    case Reason::kDuplicateHandshake:
      return "DuplicateHandshake";
    case Reason::kHandshakeConstraintViolation:
      return "HandshakeConstraintViolation";
    case Reason::kAccountNotFound:
      return "AccountNotFound";
    case Reason::kHandshakeNotFound:
      return "HandshakeNotFound";
    case Reason::kHandshakeAlreadyInState:
      return "HandshakeAlreadyInState";
    case Reason::kInvalidHandshakeTransition:
      return "InvalidHandshakeTransition";
    case Reason::kMasterCannotLeaveOrganization:
      return "MasterCannotLeaveOrganization";
    case Reason::kAccountAlreadyClosed:
      return "AccountAlreadyClosed";
    case Reason::kAccountSuspended:
      return "AccountSuspended";
    case Reason::kOrganizationNotEmpty:
      return "OrganizationNotEmpty";
    case Reason::kAmountOverflow:
      return "AmountOverflow";
    case Reason::kUsageTypeNotPriced:
      return "UsageTypeNotPriced";
    case Reason::kInvalidPriceSchedule:
      return "InvalidPriceSchedule";
    case Reason::kPeriodClosed:
      return "PeriodClosed";
    case Reason::kPeriodNotEnded:
      return "PeriodNotEnded";
    case Reason::kPeriodCloseOutOfOrder:
      return "PeriodCloseOutOfOrder";
    case Reason::kDuplicateCredit:
      return "DuplicateCredit";
    case Reason::kWrongExpectedHead:
      return "WrongExpectedHead";
    case Reason::kPolicyTypeNotAvailableForOrganization:
      return "PolicyTypeNotAvailableForOrganization";
    case Reason::kDuplicatePolicy:
      return "DuplicatePolicy";
    case Reason::kMalformedPolicyDocument:
      return "MalformedPolicyDocument";
    case Reason::kDuplicatePolicyAttachment:
      return "DuplicatePolicyAttachment";
    case Reason::kPolicyNotAttached:
      return "PolicyNotAttached";
    case Reason::kPolicyNotFound:
      return "PolicyNotFound";
    case Reason::kTargetNotFound:
      return "TargetNotFound";
    case Reason::kPolicyInUse:
      return "PolicyInUse";
    case Reason::kPolicyDenied:
      return "PolicyDenied";
    case Reason::kDuplicateOrganizationalUnit:
      return "DuplicateOrganizationalUnit";
    case Reason::kParentNotFound:
      return "ParentNotFound";
    case Reason::kPasswordPolicyViolation:
      return "PasswordPolicyViolation";
    case Reason::kManagementAccountNotSecured:
      return "ManagementAccountNotSecured";
    case Reason::kInvalidMfaCode:
      return "InvalidMfaCode";
    case Reason::kMfaDeviceAlreadyEnabled:
      return "MfaDeviceAlreadyEnabled";
    case Reason::kSecretRequired:
      return "SecretRequired";
    case Reason::kAuthenticationRequired:
      return "AuthenticationRequired";
    case Reason::kAuthenticationFailed:
      return "AuthenticationFailed";
    case Reason::kLockedOut:
      return "LockedOut";
    case Reason::kAccessDenied:
      return "AccessDenied";
  }
  return "Unknown";
}

std::string Status::to_string() const {
  if (is_ok()) return "OK";
  std::string text(code_name(code_));
  if (reason_ != Reason::kNone) {
    text += ' ';
    text += reason_name(reason_);
    if (!detail_.empty()) {
      text += '/';
      text += detail_;
    }
  }
  text += ": ";
  text += message_;
  return text;
}

Status Status::with_context(std::string_view context) const {
  if (is_ok()) return *this;
  std::string message(context);
  message += ": ";
  message += message_;
  return Status(code_, reason_, std::move(message), detail_);
}

}  // namespace orgledger

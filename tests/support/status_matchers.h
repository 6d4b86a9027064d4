// doctest helpers for asserting exact codes and reasons.
#pragma once

#include <doctest/doctest.h>

#include "projections/status.h"

// Asserts that `status_expression` failed with exactly this code and reason (and detail).
#define CHECK_FAILS_WITH(status_expression, expected_code, expected_reason) \
  do {                                                                      \
    const ::orgledger::Status checked_status = (status_expression);         \
    INFO("status: ", checked_status.to_string());                           \
    CHECK(checked_status.code() == (expected_code));                        \
    CHECK(checked_status.reason() == (expected_reason));                    \
  } while (false)

#define CHECK_FAILS_WITH_DETAIL(status_expression, expected_code, expected_reason, \
                                expected_detail)                                   \
  do {                                                                             \
    const ::orgledger::Status checked_status = (status_expression);                \
    INFO("status: ", checked_status.to_string());                                  \
    CHECK(checked_status.code() == (expected_code));                               \
    CHECK(checked_status.reason() == (expected_reason));                           \
    CHECK(checked_status.detail() == (expected_detail));                           \
  } while (false)

#define CHECK_OK(status_expression)                                 \
  do {                                                              \
    const ::orgledger::Status checked_status = (status_expression); \
    INFO("status: ", checked_status.to_string());                   \
    CHECK(checked_status.is_ok());                                  \
  } while (false)

#define REQUIRE_OK(status_expression)                               \
  do {                                                              \
    const ::orgledger::Status checked_status = (status_expression); \
    INFO("status: ", checked_status.to_string());                   \
    REQUIRE(checked_status.is_ok());                                \
  } while (false)

// Status helpers: conversion between absl::Status and grpc::Status, and the early-return macros
// absl 20220623 lacks.
//
// Inside the server everything returns absl::Status / absl::StatusOr; only server/api converts to
// grpc::Status at the edge. Canonical codes: validation -> INVALID_ARGUMENT, unknown object ->
// NOT_FOUND, optimistic-concurrency conflict -> ABORTED, ownership conflict -> FAILED_PRECONDITION,
// over a limit -> RESOURCE_EXHAUSTED, compacted revision -> OUT_OF_RANGE.
//
// Thread-safety: stateless functions, safe from any thread.
#ifndef SLICEKEEPER_COMMON_STATUS_UTIL_H_
#define SLICEKEEPER_COMMON_STATUS_UTIL_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace slicekeeper {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace slicekeeper

#define SK_STATUS_CONCAT_INNER_(a, b) a##b
#define SK_STATUS_CONCAT_(a, b) SK_STATUS_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define SK_RETURN_IF_ERROR(expr)                    \
  do {                                              \
    ::absl::Status sk_status_ = (expr);             \
    if (!sk_status_.ok()) return sk_status_;        \
  } while (0)

// `SK_ASSIGN_OR_RETURN(auto x, Foo());` declares x from a StatusOr or returns its error.
#define SK_ASSIGN_OR_RETURN(lhs, rexpr) \
  SK_ASSIGN_OR_RETURN_IMPL_(SK_STATUS_CONCAT_(sk_statusor_, __LINE__), lhs, rexpr)
#define SK_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                              \
  if (!statusor.ok()) return statusor.status();         \
  lhs = std::move(statusor).value()

#endif  // SLICEKEEPER_COMMON_STATUS_UTIL_H_

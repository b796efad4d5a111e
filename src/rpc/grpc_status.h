// Our Status and gRPC's, both ways, in one table for fld, flsched and their
// clients. The message is kept; codes map one to one where both have one:
//
//   kNotFound NOT_FOUND, kInvalidArgument INVALID_ARGUMENT, kCorruption
//   DATA_LOSS, kUnavailable UNAVAILABLE, kDeadlineExceeded DEADLINE_EXCEEDED,
//   kResourceExhausted RESOURCE_EXHAUSTED, kFailedPrecondition
//   FAILED_PRECONDITION, kAlreadyExists ALREADY_EXISTS, kPermissionDenied
//   PERMISSION_DENIED, kCancelled CANCELLED, kIOError and kInternal
//   INTERNAL (a local disk error is the server's own failure, not a reason
//   for the caller to retry elsewhere).
//
// From gRPC, codes we have no twin for fold into the nearest: OUT_OF_RANGE
// is kInvalidArgument, UNAUTHENTICATED kPermissionDenied, ABORTED
// kFailedPrecondition, anything else kInternal.
#pragma once

#include <grpcpp/support/status.h>

#include "common/status.h"

namespace feilong::rpc {

grpc::Status ToGrpcStatus(const Status& status);
Status FromGrpcStatus(const grpc::Status& status);

}  // namespace feilong::rpc

#include "rpc/grpc_status.h"

namespace feilong::rpc {

grpc::Status ToGrpcStatus(const Status& status) {
  using C = grpc::StatusCode;
  C code = C::INTERNAL;
  switch (status.code()) {
    case StatusCode::kOk:
      return grpc::Status::OK;
    case StatusCode::kNotFound:
      code = C::NOT_FOUND;
      break;
    case StatusCode::kInvalidArgument:
      code = C::INVALID_ARGUMENT;
      break;
    case StatusCode::kCorruption:
      code = C::DATA_LOSS;
      break;
    case StatusCode::kUnavailable:
      code = C::UNAVAILABLE;
      break;
    case StatusCode::kDeadlineExceeded:
      code = C::DEADLINE_EXCEEDED;
      break;
    case StatusCode::kResourceExhausted:
      code = C::RESOURCE_EXHAUSTED;
      break;
    case StatusCode::kFailedPrecondition:
      code = C::FAILED_PRECONDITION;
      break;
    case StatusCode::kAlreadyExists:
      code = C::ALREADY_EXISTS;
      break;
    case StatusCode::kPermissionDenied:
      code = C::PERMISSION_DENIED;
      break;
    case StatusCode::kCancelled:
      code = C::CANCELLED;
      break;
    case StatusCode::kIOError:
    case StatusCode::kInternal:
      code = C::INTERNAL;
      break;
  }
  return grpc::Status(code, status.message());
}

Status FromGrpcStatus(const grpc::Status& status) {
  const std::string& m = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return Status::Ok();
    case grpc::StatusCode::CANCELLED:
      return Status::Cancelled(m);
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return Status::InvalidArgument(m);
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Status::DeadlineExceeded(m);
    case grpc::StatusCode::NOT_FOUND:
      return Status::NotFound(m);
    case grpc::StatusCode::ALREADY_EXISTS:
      return Status::AlreadyExists(m);
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return Status::PermissionDenied(m);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return Status::ResourceExhausted(m);
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ABORTED:
      return Status::FailedPrecondition(m);
    case grpc::StatusCode::UNAVAILABLE:
      return Status::Unavailable(m);
    case grpc::StatusCode::DATA_LOSS:
      return Status::Corruption(m);
    default:
      return Status::Internal(m);
  }
}

}  // namespace feilong::rpc

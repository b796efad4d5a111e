#include "rpc/grpc_status.h"

#include <gtest/gtest.h>

#include <vector>

namespace feilong::rpc {
namespace {

TEST(GrpcStatusTest, EveryCodeWithATwinGoesThereAndBack) {
  const std::vector<std::pair<StatusCode, grpc::StatusCode>> twins = {
      {StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
      {StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
      {StatusCode::kCorruption, grpc::StatusCode::DATA_LOSS},
      {StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
      {StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
      {StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
      {StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
      {StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
      {StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED},
      {StatusCode::kCancelled, grpc::StatusCode::CANCELLED},
      {StatusCode::kInternal, grpc::StatusCode::INTERNAL},
  };
  for (const auto& [ours, theirs] : twins) {
    Status status(ours, "why");
    grpc::Status converted = ToGrpcStatus(status);
    EXPECT_EQ(converted.error_code(), theirs) << StatusCodeName(ours);
    EXPECT_EQ(converted.error_message(), "why");
    EXPECT_EQ(FromGrpcStatus(converted), status) << StatusCodeName(ours);
  }
  EXPECT_TRUE(ToGrpcStatus(Status::Ok()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(GrpcStatusTest, CodesWithoutATwinFoldIntoTheNearest) {
  EXPECT_EQ(ToGrpcStatus(Status::IOError("disk")).error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "")).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "")).code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::ABORTED, "")).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "")).code(),
            StatusCode::kInternal);
}

}  // namespace
}  // namespace feilong::rpc

// The daemon's local gRPC API (StatTask, ListTasks, DeleteTask) over its
// unix socket, against a real fld process.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "feilong/daemon/v1/daemon.grpc.pb.h"
#include "integration/cluster.h"
#include "support/nginx_origin.h"
#include "support/temp_dir.h"

namespace feilong::testing {
namespace {

namespace dv1 = feilong::daemon::v1;

TEST(LocalApiTest, StatListAndDeleteTasks) {
  test::TempDir www;
  test::TempDir out;
  ASSERT_TRUE(test::WriteRandomFile(www.Path("a.bin"), 5 * 1024 * 1024 + 3, 7).ok());
  test::NginxOrigin::Options options;
  options.root = www.path();
  auto origin = test::NginxOrigin::Start(options);
  ASSERT_TRUE(origin.ok()) << origin.status().ToString();
  Cluster cluster({.peers = 1, .seed = false, .scheduler = false});
  ASSERT_TRUE(cluster.Start());
  FlgetSummary r = cluster.Flget(cluster.peer(0), (*origin)->Url("/a.bin"), out.Path("a"));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  auto channel =
      grpc::CreateChannel("unix:" + cluster.peer(0).socket, grpc::InsecureChannelCredentials());
  auto stub = dv1::Daemon::NewStub(channel);

  dv1::ListTasksResponse list;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->ListTasks(&ctx, dv1::ListTasksRequest(), &list).ok());
  }
  ASSERT_EQ(list.tasks_size(), 1);
  const dv1::TaskInfo& task = list.tasks(0);
  EXPECT_EQ(task.content_length(), 5u * 1024 * 1024 + 3);
  EXPECT_TRUE(task.complete());
  EXPECT_EQ(task.pieces_held(), task.piece_count());
  EXPECT_EQ(task.url().find('?'), std::string::npos);

  dv1::TaskInfo stat;
  {
    grpc::ClientContext ctx;
    dv1::StatTaskRequest request;
    request.set_task_id(task.task_id());
    ASSERT_TRUE(stub->StatTask(&ctx, request, &stat).ok());
  }
  EXPECT_EQ(stat.task_id(), task.task_id());

  {
    grpc::ClientContext ctx;
    dv1::DeleteTaskRequest request;
    request.set_task_id(task.task_id());
    dv1::DeleteTaskResponse response;
    grpc::Status s = stub->DeleteTask(&ctx, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    dv1::StatTaskRequest request;
    request.set_task_id(task.task_id());
    grpc::Status s = stub->StatTask(&ctx, request, &stat);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    dv1::StatTaskRequest request;
    request.set_task_id("../../etc/passwd");
    grpc::Status s = stub->StatTask(&ctx, request, &stat);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  }
  // The output made before the delete is a separate link and stays intact.
  auto content = test::ReadFile(out.Path("a"));
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, test::RandomBytes(5 * 1024 * 1024 + 3, 7));
}

}  // namespace
}  // namespace feilong::testing

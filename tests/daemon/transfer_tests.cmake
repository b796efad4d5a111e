# Data plane tests: piece server and piece client (included from
# tests/daemon/CMakeLists.txt).
feilong_test(transfer_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/upload/piece_server_test.cc ${CMAKE_CURRENT_LIST_DIR}/download/piece_client_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/piece_request_test.cc ${CMAKE_CURRENT_LIST_DIR}/upload/upload_slots_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/upload/upload_queue_test.cc ${CMAKE_CURRENT_LIST_DIR}/upload/tls_server_stream_test.cc
  LIBS feilong_transfer feilong_access feilong_test_support Boost::headers
  LABELS unit_tsan)
# tls_server_stream_test makes certificates with scripts/make-certs.
target_compile_definitions(transfer_test PRIVATE FEILONG_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

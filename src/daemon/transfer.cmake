# Data plane between peers: the HTTP piece server (Asio + Beast, sendfile;
# upload/) and the piece client (libcurl; download/). Included from
# src/daemon/CMakeLists.txt.
add_library(feilong_transfer STATIC
  ${CMAKE_CURRENT_LIST_DIR}/download/piece_client.cc
  ${CMAKE_CURRENT_LIST_DIR}/piece_request.cc
  ${CMAKE_CURRENT_LIST_DIR}/upload/piece_server.cc
  ${CMAKE_CURRENT_LIST_DIR}/upload/piece_tls.cc
  ${CMAKE_CURRENT_LIST_DIR}/upload/tls_server_stream.cc
  ${CMAKE_CURRENT_LIST_DIR}/upload/upload_queue.cc
  ${CMAKE_CURRENT_LIST_DIR}/upload/upload_slots.cc
)
target_include_directories(feilong_transfer PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(feilong_transfer
  PUBLIC feilong_storage feilong_source feilong_common OpenSSL::SSL
  PRIVATE feilong_access Boost::headers spdlog::spdlog Threads::Threads)

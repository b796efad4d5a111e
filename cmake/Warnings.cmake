# Warnings and sanitizers applied to every target of the project.
add_compile_options(-Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
if(FEILONG_WERROR)
  add_compile_options(-Werror)
endif()
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  # Checks the locking annotations of common/thread_annotations.h.
  add_compile_options(-Wthread-safety)
endif()
if(FEILONG_TSAN)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "FEILONG_TSAN=ON needs clang (-DCMAKE_CXX_COMPILER=clang++)")
  endif()
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
if(FEILONG_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(FEILONG_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "FEILONG_FUZZ=ON needs clang (-DCMAKE_CXX_COMPILER=clang++)")
  endif()
  # Coverage instrumentation for libFuzzer in every library; the fuzz
  # executables add -fsanitize=fuzzer (libFuzzer's main) when linking.
  # -gline-tables-only: clang 14 with full debug info and coverage
  # instrumentation fails on Asio coroutines ("Cannot represent a difference
  # across sections"); line tables are enough for crash stacks.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=all -gline-tables-only)
  add_link_options(-fsanitize=address,undefined)
endif()

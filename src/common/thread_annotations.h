// Clang's thread-safety analysis (-Wthread-safety), as macros that expand to
// nothing for other compilers. Shared state says which mutex guards it
// (FL_GUARDED_BY), functions what they need held (FL_REQUIRES) or must not
// hold (FL_EXCLUDES); clang then checks every access at compile time.
// scripts/tsan builds with clang and -Werror=thread-safety. Use them with
// the annotated mutexes of common/mutex.h (std::mutex carries none).
//
// Thread rule: macros only.
#pragma once

#if defined(__clang__)
#define FL_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define FL_THREAD_ANNOTATION(x)
#endif

#define FL_CAPABILITY(x) FL_THREAD_ANNOTATION(capability(x))
#define FL_SCOPED_CAPABILITY FL_THREAD_ANNOTATION(scoped_lockable)
#define FL_GUARDED_BY(x) FL_THREAD_ANNOTATION(guarded_by(x))
#define FL_PT_GUARDED_BY(x) FL_THREAD_ANNOTATION(pt_guarded_by(x))
#define FL_REQUIRES(...) FL_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define FL_REQUIRES_SHARED(...) FL_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define FL_ACQUIRE(...) FL_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define FL_ACQUIRE_SHARED(...) FL_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define FL_RELEASE(...) FL_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define FL_RELEASE_SHARED(...) FL_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define FL_RELEASE_GENERIC(...) FL_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define FL_EXCLUDES(...) FL_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define FL_ASSERT_CAPABILITY(x) FL_THREAD_ANNOTATION(assert_capability(x))
#define FL_NO_THREAD_SAFETY_ANALYSIS FL_THREAD_ANNOTATION(no_thread_safety_analysis)

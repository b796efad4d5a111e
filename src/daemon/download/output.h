// Writing a finished task to the caller's output path.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "daemon/caller.h"

namespace feilong::daemon {

// Checks before a download that `caller` could create `output_path`: an
// absolute path whose directory exists and that the caller may write to,
// not a directory itself. Errors as WriteOutput.
Status CheckOutputPath(const std::string& output_path, const std::optional<Caller>& caller);

// Makes `output_path` hold the bytes of `content_path`. The output appears
// atomically (written beside it, then renamed); an existing file is
// replaced, a directory is an error. The content must already be verified:
// nothing is put in place that may still turn out wrong.
//
// `caller` (from the local socket) is who asked. Every operation on the
// output's path (resolving its directory, creating, replacing) then runs
// with the caller's file-system identity: uid, gid and supplementary groups
// taken on this thread only (setfsuid, setfsgid, setgroups) and given back
// before returning. So the daemon never creates or replaces a file the
// caller could not, whatever user the daemon runs as. The content is read
// through a descriptor the daemon opened, so the caller needs no access to
// the store.
//
// How the bytes get there: when the daemon acts as itself (no caller, or
// the caller is the daemon's own user) a hard link to the cached content
// when both are on one file system, else a copy. For any other caller a
// copy owned by the caller (0644): the kernel's protected_hardlinks refuses
// links to files one does not own, and an output shared with the cache
// must not belong to someone else.
//
// Errors: InvalidArgument for a relative path, a missing output directory
// or an output that is a directory; PermissionDenied when the caller may
// not write there, or when the daemon cannot take the caller's identity
// (it is neither root nor the caller's user); ResourceExhausted when the
// disk is full; IOError otherwise.
//
// Note: a hard-linked output shares its inode with the cache; the content
// file is made read-only (0444) so an accidental write fails instead of
// corrupting cached pieces.
Status WriteOutput(const std::string& content_path, const std::string& output_path,
                   const std::optional<Caller>& caller);

}  // namespace feilong::daemon

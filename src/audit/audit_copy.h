// Copying audit records between repositories (`bulwark copy`): the source's records are
// appended to the target's own hash chain, each marked with where it came from, so the
// target keeps one verifiable chain and a re-run appends only records not copied before.
// Called on one thread; safe alongside other appenders (AuditLog::Append retries).
#pragma once

#include <cstdint>
#include <string>

#include "audit/audit_log.h"
#include "core/result.h"

namespace bulwark::audit {

// Appends to `to`, in seq order, every record of `from` that `to` does not hold a copy of
// (a copy carries details.copied_from = {repository_id, location, seq, record_hash}). Copies
// every record, whatever its component: the target's log must stay at least as long as the
// audit_seq of every snapshot copied into it. Returns how many were appended.
Result<uint64_t> CopyAuditRecords(const AuditLog& from, const std::string& from_repository_id,
                                  const std::string& from_location, AuditLog& to);

}  // namespace bulwark::audit

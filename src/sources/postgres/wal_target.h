// Recovery targets that only the WAL can place: a transaction ID (--xid) and a restore point
// (--name). Reads the component's archived WAL (wal_reader.h) after the base backups to find
// where recovery would stop, so that restore picks a backup recovery can stop after, and
// refuses a target that no archived WAL reaches before anything is written. Called by restore
// planning from one thread; the repository's index must be loaded.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "repo/repository.h"
#include "repo/snapshot.h"
#include "repo/wal_store.h"

namespace bulwark::sources::postgres {

struct StopRecordTarget {
  bool is_xid = false;  // else a restore point name
  std::string value;  // as given: "1234" (a 32-bit xid, or an epoch-qualified 64-bit one) or a name
};

// The backup to restore for `target`, reading the WAL of `records` (the component's archive,
// repo::ListWalRecords): `chosen` itself when it is given (an explicit backup),
// else the newest of `backups` (one component's, oldest first) after whose end the first
// matching record in the WAL lies, as recovery would meet it. kUsage (one line saying what
// was searched) when the WAL archived after the backup holds no such record, or when the first
// one lies before the backup's end (recovery would stop before it is consistent). When the
// component's WAL has a timeline newer than the backup's, the search would have to follow
// timeline switches: the backup is returned unchecked (as `chosen`, or the newest).
Result<const repo::Snapshot*> FindBackupForStopRecord(
    const repo::Repository& repo, const std::vector<const repo::Snapshot*>& backups,
    const repo::Snapshot* chosen, const std::vector<repo::WalRecord>& records,
    const StopRecordTarget& target);

}  // namespace bulwark::sources::postgres
